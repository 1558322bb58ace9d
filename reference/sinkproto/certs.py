"""Development PKI (``sink certs``): a CA, a server certificate and client certificates.

Mutual TLS is mandatory in Sink (TRANS-3), so trying the kit needs
certificates; this makes them in one command. The server certificate
carries ``DNS:localhost`` and ``IP:127.0.0.1`` (the field client checks a
DNS name). Keys are ECDSA P-256. Not for production: the CA key sits next
to the certificates, unencrypted.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["Authority", "create_authority", "load_authority", "issue_server", "issue_client", "make_dev_pki", "DevPki"]

VALIDITY = dt.timedelta(days=825)


@dataclass(frozen=True)
class Authority:
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    cert_path: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Sink dev PKI"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _write(path: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> None:
    path.with_suffix(".pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path = path.with_suffix(".key")
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)


def create_authority(
    directory: Path, *, name: str = "ca", common_name: str = "Sink dev CA", now: dt.datetime | None = None
) -> Authority:
    now = now or dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    _write(directory / name, key, cert)
    return Authority(key=key, certificate=cert, cert_path=directory / f"{name}.pem")


def load_authority(directory: Path, name: str = "ca") -> Authority:
    key = serialization.load_pem_private_key((directory / f"{name}.key").read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    cert = x509.load_pem_x509_certificate((directory / f"{name}.pem").read_bytes())
    return Authority(key=key, certificate=cert, cert_path=directory / f"{name}.pem")


def _issue(ca: Authority, path: Path, common_name: str, *, server: bool, now: dt.datetime | None) -> Path:
    now = now or dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    else:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name)]), critical=False)
    _write(path, key, builder.sign(ca.key, hashes.SHA256()))
    return path.with_suffix(".pem")


def issue_server(ca: Authority, directory: Path, *, name: str = "server", now: dt.datetime | None = None) -> Path:
    return _issue(ca, directory / name, "localhost", server=True, now=now)


def issue_client(ca: Authority, directory: Path, client: str, *, now: dt.datetime | None = None) -> Path:
    """The client's identity is its certificate's common name (TRANS-5)."""
    return _issue(ca, directory / f"client-{client}", client, server=False, now=now)


@dataclass(frozen=True)
class DevPki:
    directory: Path

    @property
    def ca(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def server_cert(self) -> Path:
        return self.directory / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.directory / "server.key"

    def client_cert(self, client: str) -> Path:
        return self.directory / f"client-{client}.pem"

    def client_key(self, client: str) -> Path:
        return self.directory / f"client-{client}.key"


def make_dev_pki(directory: Path, clients: list[str]) -> DevPki:
    """A CA (kept if it exists), a server certificate and one certificate per client."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = load_authority(directory) if (directory / "ca.key").exists() else create_authority(directory)
    if not (directory / "server.pem").exists():
        issue_server(ca, directory)
    for client in clients:
        issue_client(ca, directory, client)
    return DevPki(directory)
