"""spec/v1/devices.md: the TLS profile and client identity the reference peers implement, the generated client
lifecycle, and the coverage of the chapter's requirements (and of the schemas appendix's).
"""

from __future__ import annotations

import importlib
import ssl

import pytest
from sinkproto.certs import DevPki, make_dev_pki
from sinkproto.peers.tls import client_context, peer_identity, server_context
from sinktest import ROOT, covers
from sinktools.diagrams import recorded_digest, source_digest
from sinktools.diagrams.lifecycle import AROUND, PAGE_PATH, SVG_PATH, lifecycle_dot, render_page
from test_spec_coverage import BY_ID_V1, cited_by_cases, cited_by_tests, cited_by_vectors

# ---- the TLS profile (TLS-1..TLS-4), on an in-memory handshake between the kit's contexts ---------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPki:
    return make_dev_pki(tmp_path_factory.mktemp("pki"), ["meter-gw-7"])


def _server(pki: DevPki) -> ssl.SSLContext:
    return server_context(cert=pki.server_cert, key=pki.server_key, client_ca=pki.ca)


def _client(pki: DevPki) -> ssl.SSLContext:
    return client_context(ca=pki.ca, cert=pki.client_cert("meter-gw-7"), key=pki.client_key("meter-gw-7"))


def _handshake(client: ssl.SSLContext, server: ssl.SSLContext) -> tuple[ssl.SSLObject, ssl.SSLObject]:
    """Run a TLS handshake between two contexts through memory buffers; return (client, server) objects."""
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    c = client.wrap_bio(c_in, c_out, server_hostname="localhost")
    s = server.wrap_bio(s_in, s_out, server_side=True)
    done = {"c": False, "s": False}
    for _ in range(20):
        for name, side in (("c", c), ("s", s)):
            if not done[name]:
                try:
                    side.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if all(done.values()):
            return c, s
    raise AssertionError("handshake did not finish")


@covers("TLS-1", "TLS-4")
def test_the_server_accepts_tls_1_2_with_the_profile_suite_and_p256(pki: DevPki) -> None:
    client = _client(pki)
    client.maximum_version = ssl.TLSVersion.TLSv1_2
    client.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256")
    client.set_ecdh_curve("prime256v1")
    c, s = _handshake(client, _server(pki))
    assert c.version() == "TLSv1.2" and s.version() == "TLSv1.2"
    assert c.cipher()[0] == "ECDHE-ECDSA-AES128-GCM-SHA256"
    assert peer_identity(s.getpeercert()) == "meter-gw-7"


@covers("TLS-1", "TLS-2")
def test_tls_1_3_is_negotiated_and_the_profile_suite_is_enabled_on_both_sides(pki: DevPki) -> None:
    c, s = _handshake(_client(pki), _server(pki))
    assert c.version() == "TLSv1.3"
    for context in (_server(pki), _client(pki)):
        names = {cipher["name"] for cipher in context.get_ciphers()}
        assert {"TLS_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256"} <= names
        assert context.minimum_version == ssl.TLSVersion.TLSv1_2  # TRANS-1


@covers("TLS-3")
def test_the_client_sends_the_name_it_verifies_as_sni(pki: DevPki) -> None:
    server = _server(pki)
    seen: list[str | None] = []
    server.sni_callback = lambda _obj, name, _ctx: seen.append(name)  # type: ignore[assignment, misc]  # returns None
    _handshake(_client(pki), server)
    assert seen == ["localhost"]


@covers("TLS-5", "TLS-6")
def test_the_identity_is_the_first_common_name_and_a_subject_without_one_has_none(pki: DevPki) -> None:
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(pki.client_cert("meter-gw-7").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["meter-gw-7"]  # TLS-6: sink certs puts it in the SAN too
    subject = ((("organizationName", "Sink"),), (("commonName", "first"),), (("commonName", "second"),))
    assert peer_identity({"subject": subject}) == "first"
    assert peer_identity({"subject": ((("organizationName", "Sink"),),)}) is None
    assert peer_identity(None) is None


# ---- the client lifecycle (generated) ------------------------------------------------------------------


def test_the_lifecycle_diagram_and_table_are_up_to_date() -> None:
    command = "run `python -m sinktools.diagrams` (needs graphviz) and commit the result"
    assert recorded_digest(SVG_PATH) == source_digest(lifecycle_dot()), f"{SVG_PATH.name} is stale: {command}"
    page = PAGE_PATH.read_text()
    assert render_page(page) == page, f"the lifecycle table of {PAGE_PATH.name} is stale: {command}"


def test_every_lifecycle_step_names_code_that_exists() -> None:
    for step in AROUND:
        module, _, name = step.code.partition(":")
        target: object = importlib.import_module(module)
        for part in name.split("."):
            target = getattr(target, part)
        assert callable(target), step.code


# ---- coverage of the chapter's requirements ------------------------------------------------------------

# MUSTs of spec/v1/devices.md and schemas.md that no software check observes, with the reason.
# Exact: a listed ID that something now cites fails, and so does an uncited one not listed.
NOT_CHECKABLE_V1 = {
    "DUR-1": "needs a power cut at a chosen moment; tests/test_sync_crash.py kills the processes, not the storage",
    "DUR-2": "needs a power cut during a write",
    "DEV-3": "a duration (30 days): the reference keeps the triples as long as the received events",
    "DEV-8": "applies to sides without a random source; the reference peers use the operating system's",
}


def test_every_must_of_the_chapter_is_covered_or_listed() -> None:
    covered = cited_by_tests() | cited_by_vectors() | cited_by_cases()
    musts = {
        rid
        for rid, entry in BY_ID_V1.items()
        if entry["section"].split("#")[0] in ("devices.md", "schemas.md")
        and entry["level"] in ("MUST", "MUST NOT")
        and entry["status"] == "active"
    }
    assert musts - covered - set(NOT_CHECKABLE_V1) == set(), "cite them in a test or list them with the reason"
    assert set(NOT_CHECKABLE_V1) & covered == set(), "listed as not checkable but now cited: remove them"
    assert set(NOT_CHECKABLE_V1) <= musts


def test_the_chapter_is_on_the_site_with_its_figure() -> None:
    nav = (ROOT / "mkdocs.yml").read_text()
    assert "spec/v1/devices.md" in nav and "spec/v1/schemas.md" in nav
    assert "](client-lifecycle.svg)" in PAGE_PATH.read_text()
