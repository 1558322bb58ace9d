"""The load mode's one model and report, shared by both engines (asyncio: :mod:`sinkcheck.load_mode`; Locust:
:mod:`.locust_engine`): settings, per-identity counts, the result, the store check and the report."""

from __future__ import annotations

import datetime as dt
import resource
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from .. import __version__
from ..profile import Identity, ProfileOptions

REPORT_SCHEMA_VERSION = 2
#: What a load run observes, and the requirement each observation can show broken. A run marks a
#: requirement failed only when it saw it broken; slowness breaks none of them.
CHECKS = {
    "load.handshake": ("HS-9",),  # a first request is answered hello_new_client (or connected), never refused
    "load.answers": ("MSGID-8", "ACK-1"),  # each PUBLISH answered once, by an ACK/NACK with its message id
    "load.store": ("MSGID-9",),  # --reference-store: every ACKed event is in the server's store
}
REQUIREMENTS = tuple(rid for requirements in CHECKS.values() for rid in requirements)


@dataclass(frozen=True)
class LoadSettings:
    clients: int
    rate: float  # PUBLISH frames per second, all clients together
    duration: float  # seconds of publishing
    drain: float = 5.0  # seconds without a new answer after which the runner stops waiting
    drain_max: float = 60.0  # seconds the runner waits for answers at most, after publishing stopped
    connect_concurrency: int = 64  # handshakes in progress at once (the server's accept backlog is finite)
    connect_timeout: float = 30.0
    event_size: int = 64  # bytes of event_data
    seed: int = 0
    batch: int = 1  # events per publish: 1 a PUBLISH, more a version-1 BATCH_PUBLISH (the locust engine)


@dataclass(frozen=True)
class LocustOptions:
    """``--engine locust``: where this process sits in Locust's runner."""

    role: str = "local"  # local (headless, one machine), master, or worker
    workers: int = 0  # local: worker processes to start here (0: one process); master: workers to wait for
    master_host: str = "127.0.0.1"  # a worker: the master's address
    master_port: int = 5557
    bind_host: str = "*"  # the master: the interface it listens on for workers


@dataclass(frozen=True)
class LoadCommand:
    """``sink-check load server HOST:PORT``: the server, the run, and where identities and reports come from."""

    target: tuple[str, int]
    settings: LoadSettings
    profile: ProfileOptions = ProfileOptions()
    identities: Path | None = None  # client-NAME.pem/.key pairs (with mint_ca_key: where minted ones are kept)
    mint_ca_key: Path | None = None  # issue one client certificate per client with this CA key ...
    mint_ca_cert: Path | None = None  # ... and this CA certificate (default: the profile's CA)
    reference_store: Path | None = None  # the database of the `sink serve` under test
    json: Path | None = None  # where the JSON report goes
    engine: str = "asyncio"  # or "locust" (sinkcheck.load.locust_engine)
    locust: LocustOptions = LocustOptions()


@dataclass
class IdentityCounts:
    """One identity's events at the end of a run, from either engine (a Locust worker sends it to the master)."""

    key: bytes
    published: int  # its events are offsets 1..published
    acked: list[int]  # the offsets ACKed
    unanswered: list[int]  # the offsets published and never answered (neither ACK nor NACK)


@dataclass
class LoadResult:
    clients: int
    connected: int = 0
    connect_seconds: float = 0.0
    handshake_latencies: list[float] = field(default_factory=list)
    published: int = 0
    acked: int = 0
    nacked: int = 0
    latencies: list[float] = field(default_factory=list)
    publish_seconds: float = 0.0
    unanswered: int = 0  # still in flight when the drain ended
    late: int = 0  # answers that came more than `drain` seconds after publishing stopped
    late_after: float = float("inf")  # perf_counter time after which an answer counts as late
    publish_started: float = 0.0  # perf_counter time
    last_answer: float = 0.0  # perf_counter time of the last ACK or NACK
    drain_seconds: float = 0.0
    errors: Counter[str] = field(default_factory=Counter)
    error_examples: dict[str, str] = field(default_factory=dict)
    closed_by_server: int = 0
    store: StoreCheck | None = None
    identities: list[IdentityCounts] = field(default_factory=list)
    duplicates: int = 0  # ACKs of an offset already ACKed (a resend after a drop may earn a second one)
    reconnects: int = 0
    engine: str = "asyncio"
    workers: int = 1  # load processes
    engine_stats: dict[str, Any] | None = None  # the locust engine: Locust's own statistics

    def error(self, kind: str, detail: str) -> None:
        self.errors[kind] += 1
        self.error_examples.setdefault(kind, detail)

    @property
    def verdict(self) -> str:
        """``fail``: an error, or the store lacks an ACKed event; ``incomplete``: nothing failed, but answers
        were still outstanding when the drain ended; ``pass``: everything answered, nothing failed."""
        if (
            self.connected < self.clients
            or self.errors
            or self.published == 0
            or (self.store is not None and (self.store.acked_not_stored or self.store.stored_twice))
        ):
            return "fail"
        return "incomplete" if self.unanswered else "pass"

    @property
    def ok(self) -> bool:
        return self.verdict == "pass"


@dataclass
class StoreCheck:
    """The reference server's store, read after the run: which published events it holds."""

    path: str
    published: int = 0
    stored: int = 0
    acked_not_stored: int = 0  # MSGID-9: an ACK before the event was durable (or it was lost after)
    unanswered_stored: int = 0  # stored; the ACK had not arrived when the drain ended
    unanswered_not_stored: int = 0  # never ACKed, not stored: the sender keeps it and sends it again (DELIV-1)
    stored_twice: int = 0  # published events the store holds more than once
    examples: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (no interpolation: every figure is a latency that happened)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, int(-(-share * len(ordered) // 1)))  # ceil
    return ordered[min(rank, len(ordered)) - 1]


def note_skipped(result: LoadResult) -> None:
    """An offset never answered while a later one of the same identity was ACKed: the server skipped an
    answer (MSGID-8), which no wait would bring; a slow server answers late ones after, not instead."""
    for counts in result.identities:
        highest = max(counts.acked, default=0)
        skipped = [offset for offset in counts.unanswered if offset < highest]
        for offset in skipped:
            result.error("skipped", f"{counts.key.decode()} offset {offset}: never answered, offset {highest} was")


def never_acked(result: LoadResult, limit: int = 50) -> dict[str, Any]:
    """The events published and never acknowledged, by identity and offset (the first ``limit``)."""
    listed = [f"{c.key.decode()} offset {offset}" for c in result.identities for offset in c.unanswered]
    return {"count": len(listed), "events": listed[:limit]}


def raise_fd_limit(needed: int) -> int:
    """Raise the soft RLIMIT_NOFILE towards the hard limit; every client costs one descriptor."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, needed + 256)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def identities_from_dir(directory: Path) -> list[Identity]:
    """Every ``client-NAME.pem`` with its ``client-NAME.key`` (what ``sink certs --client NAME`` writes)."""
    out = []
    for cert in sorted(directory.glob("client-*.pem")):
        key = cert.with_suffix(".key")
        if key.exists():
            out.append(Identity(cert=cert, key=key))
    return out


def mint_identities(
    ca_cert: Path, ca_key: Path, count: int, directory: Path, *, prefix: str = "sink-load", start: int = 0
) -> list[Identity]:
    """``count`` client certificates signed by the given CA, ``PREFIX-NNNNN`` from number ``start`` (reused
    when already in ``directory``)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from sinkproto.certs import Authority, issue_client

    authority = Authority(
        key=serialization.load_pem_private_key(ca_key.read_bytes(), password=None),  # type: ignore[arg-type]
        certificate=x509.load_pem_x509_certificate(ca_cert.read_bytes()),
        cert_path=ca_cert,
    )
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(start, start + count):
        name = f"{prefix}-{i:05d}"
        cert = directory / f"client-{name}.pem"
        if not cert.exists():
            issue_client(authority, directory, name)
        out.append(Identity(cert=cert, key=cert.with_suffix(".key")))
    return out


def check_store(path: Path, identities: list[IdentityCounts]) -> StoreCheck:
    """Read the reference server's store (``sink serve --db PATH``): every event the identities published,
    ACKed or not, is looked up by (event_type_id, key, offset) among the events it received, and counted."""
    from sinkproto.store import EventStore

    def no_new_store() -> int:
        raise ValueError(f"{path} is not a store (it would be created)")

    check = StoreCheck(path=str(path))
    with EventStore.open(path, new_instance_id=no_new_store) as store:
        keys = {c.key for c in identities}
        stored = Counter(
            (event.key, event.offset) for _, event in store.received() if event.key in keys and event.event_type_id == 1
        )
    for counts in identities:
        unanswered = set(counts.unanswered)
        check.published += counts.published
        for offset in range(1, counts.published + 1):
            times = stored[(counts.key, offset)]
            here = times > 0
            check.stored += here
            if times > 1:
                check.stored_twice += 1
                if len(check.examples) < 3:
                    check.examples.append(f"{counts.key.decode()} offset {offset}: stored {times} times")
            if offset in unanswered:
                check.unanswered_stored += here
                check.unanswered_not_stored += not here
        for offset in counts.acked:
            if (counts.key, offset) not in stored:
                check.acked_not_stored += 1
                if len(check.examples) < 3:
                    check.examples.append(f"{counts.key.decode()} offset {offset}: ACKed, not in the store")
    return check


def load_report(result: LoadResult, settings: LoadSettings, *, target: str, started: dt.datetime) -> dict[str, Any]:
    lat = result.latencies
    hs = result.handshake_latencies

    def ms(value: float) -> float | None:
        return None if value != value else round(value * 1000, 3)  # NaN: no sample

    return {
        "report_schema": REPORT_SCHEMA_VERSION,
        "tool": "sink-check",
        "mode": "load",
        "engine": result.engine,
        "workers": result.workers,
        "kit_version": __version__,
        "target": target,
        "started": started.isoformat(),
        "settings": settings.__dict__,
        "verdict": result.verdict,
        "clients": {
            "requested": result.clients,
            "connected": result.connected,
            "connect_seconds": round(result.connect_seconds, 3),
            "handshake_ms": {
                "p50": ms(percentile(hs, 0.5)),
                "p99": ms(percentile(hs, 0.99)),
                "max": ms(max(hs) if hs else float("nan")),
            },
        },
        "published": result.published,
        "acked": result.acked,
        "nacked": result.nacked,
        "late": result.late,
        "unanswered": result.unanswered,
        # published, never ACKed or NACKed, by identity and offset: the events the report cannot vouch for
        "never_acked": never_acked(result),
        "duplicates": result.duplicates,
        "reconnects": result.reconnects,
        "drain_seconds": round(result.drain_seconds, 3),
        # proven losses only: ACKed events the server's store does not hold (null: no store was read)
        "lost": None if result.store is None else result.store.acked_not_stored,
        "store": None if result.store is None else result.store.to_json(),
        "publish_seconds": round(result.publish_seconds, 3),
        "offered_rate": settings.rate,
        # ACKs per second from the first PUBLISH to the last answer: late answers count, and so does their wait
        "throughput": round(result.acked / answering, 1)
        if (answering := max(result.publish_seconds, result.last_answer - result.publish_started)) > 0
        else 0.0,
        "ack_latency_ms": {
            "p50": ms(percentile(lat, 0.5)),
            "p90": ms(percentile(lat, 0.9)),
            "p99": ms(percentile(lat, 0.99)),
            "max": ms(max(lat) if lat else float("nan")),
        },
        "errors": dict(result.errors),
        "error_examples": result.error_examples,
        "closed_by_server": result.closed_by_server,
        "engine_stats": result.engine_stats,
    }


def load_checks(result: LoadResult) -> tuple[list[tuple[str, str, tuple[str, ...]]], dict[str, str]]:
    """The rollup rows (check, outcome, requirements) and the requirements the run could not judge.

    A requirement is marked failed only by what shows it broken: a refused handshake (HS-9), an
    answer for a message id that is not in flight (MSGID-8, ACK-1), an ACKed event missing from the
    reference store (MSGID-9). Connection failures, closes and NACKs fail the run as errors but
    name no requirement; answers still outstanding after the drain name none either, unless a later
    event of the same identity was ACKed meanwhile (``skipped``: MSGID-8)."""
    rows: list[tuple[str, str, tuple[str, ...]]] = []
    not_checked: dict[str, str] = {}
    if result.connected or result.errors.get("refused"):
        rows.append(("load.handshake", "fail" if result.errors.get("refused") else "pass", CHECKS["load.handshake"]))
    if result.published:
        if result.errors.get("unknown_id") or result.errors.get("skipped"):
            rows.append(("load.answers", "fail", CHECKS["load.answers"]))
        elif result.unanswered:
            rows.append(("load.answers", "pass", ("ACK-1",)))
            not_checked["MSGID-8"] = (
                f"{result.unanswered} PUBLISH unanswered after the drain "
                f"({result.drain_seconds:.1f} s): slow or silent, the run cannot tell"
            )
        else:
            rows.append(("load.answers", "pass", CHECKS["load.answers"]))
    if result.store is not None:
        broken = result.store.acked_not_stored or result.store.stored_twice
        rows.append(("load.store", "fail" if broken else "pass", CHECKS["load.store"]))
    else:
        not_checked["MSGID-9"] = "no --reference-store: the run cannot see what the server stored"
    return rows, not_checked


def print_report(console: Console, report: dict[str, Any]) -> None:
    c, lat = report["clients"], report["ack_latency_ms"]
    drain = report["settings"]["drain"]
    console.print(f"engine      {report['engine']} ({report['workers']} load processes)", highlight=False)
    console.print(
        f"clients     {c['connected']}/{c['requested']} connected in {c['connect_seconds']} s "
        f"(handshake p50 {c['handshake_ms']['p50']} ms, p99 {c['handshake_ms']['p99']} ms)",
        highlight=False,
    )
    console.print(
        f"published   {report['published']} in {report['publish_seconds']} s (offered {report['offered_rate']:g}/s)",
        highlight=False,
    )
    late = f" ({report['late']} late: more than {drain:g} s after publishing stopped)" if report["late"] else ""
    console.print(
        f"answered    {report['acked']} ACK, {report['nacked']} NACK{late}; throughput {report['throughput']} ACK/s",
        highlight=False,
    )
    console.print(
        f"ACK latency p50 {lat['p50']} ms, p90 {lat['p90']} ms, p99 {lat['p99']} ms, max {lat['max']} ms",
        highlight=False,
    )
    unanswered = report["unanswered"]
    console.print(
        f"unanswered  {'nothing' if not unanswered else f'{unanswered} PUBLISH unanswered after the drain'} "
        f"(drain {report['drain_seconds']} s: it ends after {drain:g} s without a new answer, "
        f"{report['settings']['drain_max']:g} s at most)",
        highlight=False,
    )
    missing = report["never_acked"]
    if missing["count"]:
        shown = ", ".join(missing["events"][:5])
        console.print(f"never ACKed {missing['count']} published events (e.g. {shown})", highlight=False)
    if report["duplicates"] or report["reconnects"]:
        console.print(
            f"reconnects  {report['reconnects']}; {report['duplicates']} duplicate ACKs (of events resent after a drop)",
            highlight=False,
        )
    store = report["store"]
    if store is not None:
        console.print(
            f"store       {store['stored']} of {store['published']} published events in the server's store "
            f"({store['path']})",
            highlight=False,
        )
        if unanswered:
            console.print(
                f"            of the unanswered: {store['unanswered_stored']} stored (the ACK was late), "
                f"{store['unanswered_not_stored']} not stored (never ACKed: the sender keeps them)",
                highlight=False,
            )
        if store["stored_twice"]:
            console.print(
                f"[red]duplicate[/]   {store['stored_twice']} events are in the store more than once "
                f"(e.g. {store['examples'][0]})",
                highlight=False,
            )
        if store["acked_not_stored"]:
            console.print(
                f"[red]lost[/]        {store['acked_not_stored']} ACKed events are not in the store "
                f"(e.g. {store['examples'][0]})",
                highlight=False,
            )
    for kind, count in report["errors"].items():
        console.print(f"[red]error[/]       {kind}: {count} (e.g. {report['error_examples'][kind]})", highlight=False)
    style = {"pass": "green", "incomplete": "yellow"}.get(report["verdict"], "bold red")
    note = ""
    if report["verdict"] == "incomplete":
        note = (
            ": no requirement failed, but answers were still outstanding when the drain ended "
            "(raise --drain-max, or lower --rate)"
        )
    console.print(f"[{style}]{report['verdict'].upper()}[/]{note}", highlight=False)
