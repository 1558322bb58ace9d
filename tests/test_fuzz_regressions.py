"""Every input the fuzzers ever flagged, replayed through its target forever.

fuzz/regressions/<target>/ holds the inputs of past findings (crashes,
hangs, disagreements); once fixed they must keep passing. The seed corpora
(the golden vectors) must pass too, and the targets' checks must actually
flag what they claim to flag.
"""

from __future__ import annotations

import signal
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import pytest
from sinktest import covers

ROOT = Path(__file__).resolve().parents[1]
# fuzz/ is a package at the repository root, not an installed one.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fuzz.target import REGRESSIONS_DIR, Check, Finding, get_target, target_names  # noqa: E402

TARGETS = target_names()
# A replayed input that takes longer than this is a hang (libFuzzer's -timeout is 10 s).
REPLAY_SECONDS = 10


@cache
def _check(name: str) -> Check:
    target = get_target(name)
    if target.prepare is not None:
        target.prepare()
    return target.setup()


@contextmanager
def _time_bound(seconds: int, what: str) -> Iterator[None]:
    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"{what} ran longer than {seconds} s: a hang")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _failures(check: Check, inputs: list[tuple[str, bytes]]) -> list[str]:
    failures = []
    for name, data in inputs:
        try:
            with _time_bound(REPLAY_SECONDS, name):
                check(data)
        except Exception:
            failures.append(f"{name} ({data[:64].hex()}...):\n{traceback.format_exc(limit=-3)}")
    return failures


def _regression_files(name: str) -> list[Path]:
    folder = REGRESSIONS_DIR / name
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


def test_regression_folders_name_targets() -> None:
    folders = {p.name for p in REGRESSIONS_DIR.iterdir() if p.is_dir()}
    assert folders <= set(TARGETS), f"fuzz/regressions has folders for unknown targets: {folders - set(TARGETS)}"


@pytest.mark.parametrize("name", TARGETS)
def test_regressions_still_pass(name: str) -> None:
    files = _regression_files(name)
    failures = _failures(_check(name), [(str(p.relative_to(ROOT)), p.read_bytes()) for p in files])
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("name", TARGETS)
def test_seed_corpus_passes(name: str) -> None:
    seeds = list(get_target(name).seeds())
    assert seeds, f"{name} has no seeds: are the vectors generated?"
    failures = _failures(_check(name), seeds)
    assert not failures, "\n".join(failures)


def test_deframer_regression_is_kept() -> None:
    # The first finding (frames lost before an over-limit prefix) keeps its input.
    assert (REGRESSIONS_DIR / "deframer" / "frame-lost-before-over-limit-prefix").is_file()


# ---- the checks flag what they claim to flag ---------------------------------------------


def _event_check_with(monkeypatch: pytest.MonkeyPatch, decode: Callable[..., object]) -> Check:
    import sinkproto

    monkeypatch.setattr(sinkproto, "decode_event", decode)
    return get_target("event").setup()  # setup() binds the decoder it finds


def test_an_exception_outside_sink_error_escapes(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(data: bytes, limits: object) -> object:
        return data[100]  # IndexError, as a careless decoder would raise

    with pytest.raises(IndexError):
        _event_check_with(monkeypatch, broken)(b"\x00")


def test_an_encode_error_from_a_decoder_is_a_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    import sinkproto

    def broken(data: bytes, limits: object) -> object:
        raise sinkproto.EncodeError("wrong side of the codec")

    with pytest.raises(Finding, match="not a DecodeError"):
        _event_check_with(monkeypatch, broken)(b"\x00")


def test_an_error_citing_an_unknown_requirement_is_a_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    import sinkproto

    def broken(data: bytes, limits: object) -> object:
        raise sinkproto.Truncated("short", offset=0, requirement="PUB-999")

    with pytest.raises(Finding, match="PUB-999"):
        _event_check_with(monkeypatch, broken)(b"\x00")


def test_a_value_that_does_not_round_trip_is_a_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    import sinkproto

    real = sinkproto.decode_event
    calls = []

    def drifting(data: bytes, limits: object = sinkproto.DEFAULT_LIMITS) -> object:
        event = real(data, limits=limits)
        calls.append(event)
        # Every second decode (the re-decode of the re-encoded bytes) differs.
        return event if len(calls) % 2 else sinkproto.Event(**{**_fields(event), "offset": event.offset + 1})

    valid = bytes.fromhex("010203616263050600")
    with pytest.raises(Finding, match="round trip"):
        _event_check_with(monkeypatch, drifting)(valid)


def _fields(event: object) -> dict[str, object]:
    names = ("event_type_id", "schema_version", "key", "offset", "timestamp", "event_data")
    return {n: getattr(event, n) for n in names}


def test_deframer_check_catches_lost_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    import sinkproto

    class Lossy(sinkproto.Deframer):
        def feed(self, data: bytes) -> list[bytes]:
            return super().feed(data)[1:]  # drops the first frame of each feed

    monkeypatch.setattr(sinkproto, "Deframer", Lossy)
    check = get_target("deframer").setup()
    with pytest.raises(Finding, match="frames differ"):
        check(b"\x00\x00" + b"\x00\x02\x50\x00")


def test_kaitai_check_catches_a_disagreement(monkeypatch: pytest.MonkeyPatch) -> None:
    import sinkproto
    import sinkproto.construct_codec

    def lenient(data: bytes, limits: object) -> object:
        return sinkproto.Ping()  # accepts anything, unlike the Kaitai parser

    # kaitai_diff checks the construct reference codec against the .ksy
    monkeypatch.setattr(sinkproto.construct_codec, "decode_frame", lenient)
    check = _check.__wrapped__("kaitai_diff")  # a fresh setup that binds the patched decoder
    with pytest.raises(Finding, match="Kaitai parser rejects"):
        check(b"\x00" + b"\xf0\x00")  # unit 0 (frame), type 15: unknown


def _batch_check_with(monkeypatch: pytest.MonkeyPatch, name: str, decode: Callable[..., object]) -> Check:
    """The ``batch``/``batch_v1`` check, bound to a default codec whose decode_batch is ``decode``."""
    from dataclasses import replace

    import sinkproto.codec

    monkeypatch.setattr(sinkproto.codec, "DEFAULT", replace(sinkproto.codec.FAST, decode_batch=decode))
    return get_target(name).setup()  # setup() binds the decoder it finds


def _one_batch(version: int, codec: int = 0) -> bytes:
    """A one-event batch: version 0's plain encoding, or at version 1 an extended one with ``codec``."""
    from sinkproto import Batch, Event, encode_batch
    from sinkproto.messages import BatchCodec, BatchFormat

    events = (Event(event_type_id=1, schema_version=1, key=b"k", offset=1, timestamp=1, event_data=b"d"),)
    if version == 0:
        return encode_batch(Batch(events=events))
    return encode_batch(Batch(events=events, format=BatchFormat(codec=BatchCodec(codec))), version=1)


def test_batch_check_catches_a_decoder_that_misreads_the_compressed_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    from sinkproto.codec import FAST

    def forgetful(data: bytes, limits: object, **kwargs: object) -> object:
        batch = FAST.decode_batch(data, limits=limits, **kwargs)  # type: ignore[arg-type]
        return replace(batch, layout=replace(batch.layout, compressed=False))  # as if bit 6 were not read

    # The check also decodes the plain batch gzipped, whose layout must say compressed.
    with pytest.raises(Finding, match="compressed=False, header bit 6"):
        _batch_check_with(monkeypatch, "batch", forgetful)(_one_batch(0))


def test_batch_check_finds_a_format_on_a_version_0_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    from sinkproto.codec import FAST
    from sinkproto.messages import BatchFormat

    def inventive(data: bytes, limits: object, **kwargs: object) -> object:
        batch = FAST.decode_batch(data, limits=limits, **kwargs)  # type: ignore[arg-type]
        return batch if batch.layout.compressed else replace(batch, format=BatchFormat())  # BATCH-13 allows no other

    with pytest.raises(Finding, match="version-0 batch decoded with a format"):
        _batch_check_with(monkeypatch, "batch", inventive)(_one_batch(0))


@pytest.mark.parametrize(
    ("name", "data", "finding"),
    [
        ("batch", _one_batch(0), "compression is not transparent"),  # also decoded gzipped
        ("batch_v1", _one_batch(1, codec=2), "the codec is not transparent"),  # also decoded with none and gzip
    ],
)
def test_batch_check_finds_a_compression_that_is_not_transparent(
    monkeypatch: pytest.MonkeyPatch, name: str, data: bytes, finding: str
) -> None:
    from sinkproto.codec import FAST
    from sinkproto.errors import BadCompression

    def picky(other: bytes, limits: object, **kwargs: object) -> object:
        if other != data:  # refuses every other form of the input
            raise BadCompression("refuses this form", offset=1, requirement="BATCH-6")
        return FAST.decode_batch(other, limits=limits, **kwargs)  # type: ignore[arg-type]

    with pytest.raises(Finding, match=finding):
        _batch_check_with(monkeypatch, name, picky)(data)


def _context_seed(case_id: str) -> bytes:
    from fuzz.targets.batch import context_seeds

    return dict(context_seeds())[case_id]


@covers("CTX-5")
def test_batch_context_check_finds_a_decoder_that_ignores_the_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    """A decoder that takes any base held under the batch's base_id, stale or not, is caught (CTX-5)."""
    from sinkproto.codec import FAST
    from sinkproto.errors import BaseUnavailable

    first: dict[int, object] = {}  # the first base seen under each id: the ones the target holds

    def trusting(data: bytes, limits: object, bases: object = None, **kwargs: object) -> object:
        if isinstance(bases, dict):
            for batch_id, base in bases.items():
                first.setdefault(batch_id, base)
        try:
            return FAST.decode_batch(data, limits=limits, bases=bases, **kwargs)  # type: ignore[arg-type]
        except BaseUnavailable as exc:
            if exc.reason != "stale" or not isinstance(bases, dict):
                raise
            # Another base under that id: decoded against the one it first saw, as if the digest did not matter.
            again = {**bases, exc.base_id: first[exc.base_id]}
            return FAST.decode_batch(data, limits=limits, bases=again, **kwargs)  # type: ignore[arg-type]

    with pytest.raises(Finding, match="not unknown_base"):
        _batch_check_with(monkeypatch, "batch_context", trusting)(_context_seed("v1.batch.context.none.with-base"))


@covers("CTX-1")
def test_batch_context_check_finds_a_decoder_that_takes_context_undeclared(monkeypatch: pytest.MonkeyPatch) -> None:
    """To a side that declared no context_bases, mode context is unknown_format (CTX-1), not a base lookup."""
    from sinkproto.codec import FAST

    def eager(data: bytes, limits: object, bases: object = None, **kwargs: object) -> object:
        return FAST.decode_batch(data, limits=limits, bases={} if bases is None else bases, **kwargs)  # type: ignore[arg-type]

    with pytest.raises(Finding, match="declared no context_bases"):
        _batch_check_with(monkeypatch, "batch_context", eager)(_context_seed("v1.batch.context.none.no-base"))
