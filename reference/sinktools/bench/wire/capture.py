"""Counting bytes on the wire: tcpdump on ``lo``, the pcap file parsed, packets assigned to phases by capture time.

Each packet counts its IP total length (IPv4 header, TCP or UDP header with
options, payload: what a link bills, without the loopback's fake Ethernet
header) and its payload (the application bytes). Pure ACKs count too.
"""

from __future__ import annotations

import shutil
import signal
import struct
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .clients import Client

__all__ = ["PHASES", "Capture", "Traffic", "account", "missed_phase", "parse_pcap", "phases_of", "tools_missing"]

PHASES = ("setup", "one event", "100 one by one", "100 in one message")


@dataclass
class Traffic:
    """What one phase put on the wire, per direction (up: client to server)."""

    app_up: int = 0
    app_down: int = 0
    ip_up: int = 0
    ip_down: int = 0
    packets: int = 0

    @property
    def app(self) -> int:
        return self.app_up + self.app_down

    @property
    def ip(self) -> int:
        return self.ip_up + self.ip_down


class Capture:
    """tcpdump on ``lo`` for some ports, written to a pcap file and parsed afterwards."""

    def __init__(self, ports: list[int], path: Path) -> None:
        self.ports = ports
        self.path = path
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        expression = " or ".join(f"port {p}" for p in self.ports)
        self._proc = subprocess.Popen(
            ["tcpdump", "-i", "lo", "-n", "-U", "-s", "128", "-w", str(self.path), expression],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        assert self._proc.stderr is not None
        line = self._proc.stderr.readline().decode(errors="replace")  # "listening on lo, ..." once it captures
        if "listening" not in line:
            self._proc.kill()
            raise SystemExit(f"sink bench wire: tcpdump could not capture on lo: {line.strip()} (run as root)")

    def stop(self) -> list[tuple[float, int, int, int, int]]:
        """(time, source port, destination port, IP length, payload length) of every packet."""
        assert self._proc is not None
        time.sleep(0.2)
        self._proc.send_signal(signal.SIGINT)
        self._proc.wait(timeout=10)
        return parse_pcap(self.path.read_bytes())

    def kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(5)


def parse_pcap(data: bytes) -> list[tuple[float, int, int, int, int]]:
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    nano = struct.unpack(endian + "I", data[:4])[0] == 0xA1B23C4D
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    link_header = {1: 14, 0: 4, 113: 16, 276: 20, 101: 0}[linktype]
    out = []
    pos = 24
    while pos + 16 <= len(data):
        seconds, fraction, captured, _ = struct.unpack(endian + "IIII", data[pos : pos + 16])
        packet = data[pos + 16 : pos + 16 + captured]
        pos += 16 + captured
        ip = packet[link_header:]
        if len(ip) < 20 or ip[0] >> 4 != 4:
            continue
        ip_header = (ip[0] & 0x0F) * 4
        total = int.from_bytes(ip[2:4], "big")
        protocol = ip[9]
        l4 = ip[ip_header:]
        source, destination = int.from_bytes(l4[0:2], "big"), int.from_bytes(l4[2:4], "big")
        l4_header = (l4[12] >> 4) * 4 if protocol == 6 else 8
        when = seconds + fraction / (1e9 if nano else 1e6)
        out.append((when, source, destination, total, total - ip_header - l4_header))
    return out


def account(packets: list[tuple[float, int, int, int, int]], port: int, start: float, end: float) -> Traffic:
    traffic = Traffic()
    for when, source, destination, total, payload in packets:
        if not start <= when < end or port not in (source, destination):
            continue
        traffic.packets += 1
        if destination == port:
            traffic.app_up += payload
            traffic.ip_up += total
        else:
            traffic.app_down += payload
            traffic.ip_down += total
    return traffic


def phases_of(
    client: Client, port: int, marks: list[tuple[str, float, float]], packets: list[tuple[float, int, int, int, int]]
) -> dict[str, Traffic | None]:
    found = {name: account(packets, port, start, end) for name, start, end in marks}
    phases = {name: found.get(name) for name in PHASES}
    if client.transport == "UDP" and phases["setup"] is not None and not phases["setup"].packets:
        phases["setup"] = Traffic()  # CoAP has no connection to set up
    return phases


def missed_phase(
    client: Client,
    port: int,
    tls: bool,
    marks: list[tuple[str, float, float]],
    packets: list[tuple[float, int, int, int, int]],
) -> bool:
    """Whether a phase in which the client sent something counted no packet at all."""
    phases = phases_of(client, port, marks, packets)
    return any(
        traffic is not None and not traffic.packets
        for name, traffic in phases.items()
        if not (name == "setup" and client.transport == "UDP")
    )


def tools_missing(protocols: set[str]) -> list[str]:
    missing = [] if shutil.which("tcpdump") else ["tcpdump"]
    if "mqtt" in protocols and not (shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists()):
        missing.append("mosquitto")
    return missing
