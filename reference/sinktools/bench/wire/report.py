"""The wire benchmark's tables (all protocols; version 1 against v0 and MQTT 5) and its chart."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sinkproto.codec import FAST
from sinkproto.messages import Batch, Publish
from sinkproto.stream import frame_bytes

from ..profiles import Profile
from .capture import Traffic

__all__ = [
    "V1_ROWS",
    "Result",
    "chart",
    "format_report",
    "format_v1_report",
    "offline_batch",
    "one_event_app",
    "v1_rows",
]


@dataclass
class Result:
    protocol: str
    tls: bool
    transport: str  # TCP or UDP
    phases: dict[str, Traffic | None] = field(default_factory=dict)
    note: str = ""
    batch: bytes = b""  # Sink v1: the batch v1 its BATCH_PUBLISH carried


def offline_batch(profile: Profile) -> tuple[int, int]:
    """(column batch bytes, as one frame with the stream prefix and a 2-byte header): computed, not measured."""
    size = len(FAST.encode_batch(Batch(events=profile.events)))
    return size, size + 2 + 2


def one_event_app(profile: Profile) -> int:
    return len(frame_bytes(FAST.encode_frame(Publish(message_id=1, event=profile.events[0]))))


def _cell(traffic: Traffic | None, payload: int) -> str:
    if traffic is None:
        return "n/a"
    return f"{traffic.app:,} / {traffic.ip:,} ({traffic.ip / payload:.1f}x)"


def format_report(results: list[Result], profile: Profile) -> str:
    data_one = len(profile.events[0].event_data)
    data_all = sum(len(e.event_data) for e in profile.events)
    lines = [
        f"Bytes both ways, as application bytes / IP bytes (application + IP and TCP/UDP headers of every packet, "
        f"pure ACKs included), and in parentheses IP bytes per byte of event_data ({data_one} bytes per event, "
        f"{data_all:,} for 100). Profile `{profile.name}`.",
        "",
        "| Protocol | TLS | One event | 100 one by one | 100 in one message | Connection setup | Packets (one event) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        one = r.phases.get("one event")
        setup = r.phases.get("setup")
        lines.append(
            f"| {r.protocol} ({r.transport}) | {'mutual TLS' if r.tls else 'no'} | {_cell(one, data_one)} | "
            f"{_cell(r.phases.get('100 one by one'), data_all)} | {_cell(r.phases.get('100 in one message'), data_all)} | "
            f"{'n/a' if setup is None else f'{setup.app:,} / {setup.ip:,}'} | {one.packets if one else 'n/a'} |"
        )
    batch, framed = offline_batch(profile)
    lines += [
        "",
        f"Sink v0 has no batch frame: the 100 events as one column batch (BATCH-1..11, computed offline, not sent) "
        f"take {batch:,} bytes, {framed:,} with a frame header and the stream length prefix, against "
        f"{data_all + sum(len(e.key) for e in profile.events):,} bytes of keys and event_data.",
    ]
    v1 = format_v1_report(results, profile)
    return "\n".join(lines) + ("\n\n" + v1 if v1 else "")


#: The v1 rows: (protocol, phase, what crosses the wire), compared with the first.
V1_ROWS = (
    ("Sink v1", "100 in one message", "one BATCH_PUBLISH (batch v1), one ACK"),
    ("Sink v0", "100 one by one", "100 PUBLISH, 100 ACK"),
    ("MQTT 5 QoS 1", "100 one by one", "100 PUBLISH, 100 PUBACK"),
    ("MQTT 5 QoS 1", "100 in one message", "one PUBLISH of the 100 event encodings, one PUBACK"),
)


def v1_rows(results: list[Result]) -> list[tuple[str, bool, str, Traffic]]:
    """(protocol, TLS, what was sent, traffic) of the v1 comparison, for the rows this run measured."""
    out = []
    for tls in (True, False):
        for protocol, phase, what in V1_ROWS:
            for r in results:
                traffic = r.phases.get(phase)
                if r.protocol == protocol and r.tls == tls and traffic is not None:
                    out.append((protocol, tls, what, traffic))
    return out


def format_v1_report(results: list[Result], profile: Profile) -> str:
    """All-in bytes per event of 100 events as one v1 batch, against v0 and MQTT 5 one by one."""
    from ..batch_bench import batch_format

    sink_v1 = {r.tls: r for r in results if r.protocol == "Sink v1" and r.batch}
    rows = v1_rows(results)
    if not sink_v1 or not rows:
        return ""
    count = len(profile.events)
    base = {tls: traffic for protocol, tls, _, traffic in rows if protocol == "Sink v1"}
    lines = [
        f"Version 1: the {count} events of profile `{profile.name}` with delivery confirmation, all-in bytes per event "
        f"(IP bytes both ways: TCP/IP headers, pure ACKs and TLS records included; connection setup excluded) "
        f"and application bytes per event (TCP payload: the protocol's bytes, TLS records with TLS).",
        "",
        "| Sent as | TLS | All-in bytes per event | Application bytes per event | Packets | All-in vs Sink v1 batch |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for protocol, tls, what, traffic in rows:
        ratio = f"{traffic.ip / base[tls].ip:.2f}x" if tls in base and base[tls].ip else "n/a"
        lines.append(
            f"| {protocol}: {what} | {'mutual TLS' if tls else 'no'} | {traffic.ip / count:,.1f} | "
            f"{traffic.app / count:,.1f} | {traffic.packets} | {ratio} |"
        )
    result = next(iter(sink_v1.values()))
    batch = result.batch
    plain = base.get(False)
    lines += [
        "",
        f"The BATCH_PUBLISH carried a batch v1 of {len(batch):,} bytes ({batch_format(batch)}, the encoder's choice; "
        f"{result.note}), "
        f"{len(batch) + 4:,} with its 2-byte frame header and 2-byte length prefix"
        + (
            f" (counted on the wire without TLS: {plain.app_up:,} application bytes up, {plain.app_down:,} down: the ACK)"
            if plain is not None
            else ""
        )
        + ".",
    ]
    return "\n".join(lines)


def chart(results: list[Result], profile: Profile, path: Path) -> None:
    """Bytes per event on the wire (IP bytes), per protocol, for the one-event and one-by-one phases."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in results if r.phases.get("one event") is not None]
    labels = [f"{r.protocol}{' + TLS' if r.tls else ''}" for r in rows]
    one = [r.phases["one event"].ip for r in rows]  # type: ignore[union-attr]
    each = [(r.phases["100 one by one"].ip / 100) if r.phases.get("100 one by one") else 0 for r in rows]  # type: ignore[union-attr]
    batched = [(r.phases["100 in one message"].ip / 100) if r.phases.get("100 in one message") else 0 for r in rows]  # type: ignore[union-attr]
    figure, axis = plt.subplots(figsize=(10, 0.42 * len(rows) + 1.6))
    y = list(range(len(rows)))
    height = 0.27
    axis.barh([i - height for i in y], one, height, label="one event (warm connection)")
    axis.barh(y, each, height, label="per event, 100 one by one")
    axis.barh([i + height for i in y], batched, height, label="per event, 100 in one message")
    data = len(profile.events[0].event_data)
    axis.axvline(data, color="black", linewidth=0.8, linestyle="--", label=f"the event's {data} bytes of event_data")
    axis.set_yticks(y, labels, fontsize=8)
    axis.invert_yaxis()
    axis.set_xlabel("IP bytes on the wire, both directions (headers, pure ACKs and TLS included)")
    axis.set_title(f"Bytes per event with delivery confirmation, loopback, profile '{profile.name}'", fontsize=10)
    axis.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
