"""Both codecs equal on mode context (spec/v1/context.md), drawn by hypothesis.

Writer schemas over every Avro type and events for them (the strategies of
tests/test_fast_records.py); a base drawn from some of the events, a batch
from others, so keys repeat, are new, or come twice. Then: both encoders
write the same bytes (each column's choice of against_base, CTX-13, and the
codec, included); both decoders give back the events; and on mutated
batches (bit flips, cuts, insertions, a column replaced, bit 7 of a
transform byte flipped, a header bit flipped), with small limits, and with
bases missing, stale or not taken at all, both give the same outcome: the
same events, or the same error class, requirement and offset, or the same
BaseUnavailable (reason, base_id, digest, offset).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from sinkproto.batchrules import gzip_body, zstd_body
from sinkproto.codec import CONSTRUCT, FAST
from sinkproto.errors import BaseUnavailable, DecodeError
from sinkproto.limits import DEFAULT_LIMITS, Limits
from sinkproto.messages import Batch, BatchCodec, BatchContext, BatchFormat, BatchMode, BatchPublish, ContextBase, Event
from sinkproto.primitives import varint_bytes
from sinkproto.records import RecordSchemas
from sinktest import covers
from test_fast_records import _SMALL_LIMITS, SETTINGS, TYPE_ID, VERSION, any_batches, columns_of

_COMPRESS: dict[BatchCodec, Callable[[bytes], bytes]] = {
    BatchCodec.NONE: bytes,
    BatchCodec.GZIP: gzip_body,
    BatchCodec.ZSTD: zstd_body,
}
HEAD = bytes((0xB0, BatchMode.CONTEXT, TYPE_ID, VERSION))  # header, format (codec none), type, version


def outcome(decode: Callable[[], Batch]) -> Any:
    try:
        batch = decode()
    except BaseUnavailable as exc:
        return BaseUnavailable, exc.requirement, exc.reason, exc.base_id, exc.digest, exc.offset
    except DecodeError as exc:
        return type(exc), exc.requirement, exc.offset
    return batch.events, batch.format, batch.context


def same_outcome(
    data: bytes, schemas: RecordSchemas, bases: dict[int, ContextBase] | None, limits: Limits = DEFAULT_LIMITS
) -> Any:
    """The outcome of both codecs' decode_batch (version 1), which must agree."""
    reference = outcome(lambda: CONSTRUCT.decode_batch(data, version=1, limits=limits, schemas=schemas, bases=bases))
    fast = outcome(lambda: FAST.decode_batch(data, version=1, limits=limits, schemas=schemas, bases=bases))
    assert fast == reference
    return reference


@st.composite
def contexts(draw: st.DrawFn) -> tuple[RecordSchemas, tuple[Event, ...], BatchContext]:
    """A schema, the events of a batch and its context: a base drawn from the same events, or none."""
    schemas, events = draw(any_batches)
    pick = st.lists(st.sampled_from(events), min_size=1, max_size=len(events) + 2)
    batch = tuple(draw(pick))
    base = ContextBase(batch_id=draw(st.integers(1, 300)), events=tuple(draw(pick))) if draw(st.booleans()) else None
    batch_id = draw(st.integers(1, 5) | st.just(0xFFFF_FFFF))
    return schemas, batch, BatchContext(batch_id=batch_id, base=base)


def held(context: BatchContext) -> dict[int, ContextBase]:
    return {} if context.base is None else {context.base.batch_id: context.base}


def encoded(batch: Batch, schemas: RecordSchemas) -> bytes:
    fast = FAST.encode_batch(batch, version=1, schemas=schemas)
    assert fast == CONSTRUCT.encode_batch(batch, version=1, schemas=schemas)
    return fast


@covers("CTX-2", "CTX-6", "CTX-7", "CTX-13")
@settings(SETTINGS, max_examples=120)
@given(contexts(), st.sampled_from([None, *BatchCodec]))
def test_both_codecs_encode_the_same_bytes_and_round_trip(
    drawn: tuple[RecordSchemas, tuple[Event, ...], BatchContext], codec: BatchCodec | None
) -> None:
    schemas, events, context = drawn
    fmt = None if codec is None else BatchFormat(codec=codec, mode=BatchMode.CONTEXT)
    data = encoded(Batch(events=events, format=fmt, context=context), schemas)
    got_events, got_format, got_context = same_outcome(data, schemas, held(context))
    assert got_events == events and got_context == context and got_format.mode is BatchMode.CONTEXT
    frame = BatchPublish(message_id=1, batch=Batch(events=events, format=fmt, context=context))
    raw = FAST.encode_frame(frame, version=1, schemas=schemas)
    assert raw == CONSTRUCT.encode_frame(frame, version=1, schemas=schemas)
    for codec_ in (FAST, CONSTRUCT):
        decoded = codec_.decode_frame(raw, version=1, schemas=schemas, bases=held(context))
        assert isinstance(decoded, BatchPublish) and decoded.batch.events == events


def _head_size(body: bytes) -> int:
    """The bytes of batch_id, base_id and base_digest at the start of a valid body."""
    pos = 0
    for _ in range(2):
        while body[pos] & 0x80:
            pos += 1
        pos += 1
    return pos + (8 if body[pos - 1] else 0)


@covers("CTX-3", "CTX-5", "CTX-6", "CTX-7", "RECORD-5", "RECORD-12")
@settings(SETTINGS, max_examples=200)
@given(contexts(), st.sampled_from(list(BatchCodec)), st.data())
def test_both_codecs_agree_on_mutated_batches(
    drawn: tuple[RecordSchemas, tuple[Event, ...], BatchContext], codec: BatchCodec, data: st.DataObject
) -> None:
    schemas, events, context = drawn
    none = BatchFormat(codec=BatchCodec.NONE, mode=BatchMode.CONTEXT)
    batch = encoded(Batch(events=events, format=none, context=context), schemas)
    header, body = bytearray(batch[:4]), batch[4:]
    assert bytes(header) == HEAD
    header[1] = codec << 4 | BatchMode.CONTEXT
    head = _head_size(body)
    bases = held(context)
    for _ in range(3):
        mutation = data.draw(st.sampled_from(["flip", "cut", "insert", "column", "against", "header"]))
        at = data.draw(st.integers(0, max(len(body) - 1, 0)))
        if mutation == "header":
            at = data.draw(st.integers(0, len(header) - 1))
            header[at] ^= 1 << data.draw(st.integers(0, 7))
        elif mutation == "flip" and body:
            body = body[:at] + bytes((body[at] ^ 1 << data.draw(st.integers(0, 7)),)) + body[at + 1 :]
        elif mutation == "cut":
            body = body[:at]
        elif mutation == "insert":
            body = body[:at] + data.draw(st.binary(min_size=1, max_size=3)) + body[at:]
        else:
            try:
                spans = [(head + s, head + e) for s, e in columns_of(body[head:])]
            except IndexError:  # an earlier mutation broke the column structure
                continue
            if not spans:
                continue
            start, end = data.draw(st.sampled_from(spans))
            if mutation == "against":  # bit 7 of the transform byte, after the chunk length
                transform = start + 1 + (body[start] >= 0x80)
                if transform < end:
                    body = body[:transform] + bytes((body[transform] ^ 0x80,)) + body[transform + 1 :]
            else:
                payload = bytes((data.draw(st.integers(0, 12) | st.integers(0x80, 0x8C)),))
                payload += data.draw(st.binary(max_size=12))
                body = body[:start] + bytes((len(payload),)) + payload + body[end:]
        same_outcome(bytes(header) + _COMPRESS[codec](body), schemas, bases)
        if not body:
            break


@covers("CTX-1", "CTX-5")
@settings(SETTINGS, max_examples=80)
@given(contexts(), st.sampled_from(list(BatchCodec)), st.data())
def test_both_codecs_agree_on_the_bases_held(
    drawn: tuple[RecordSchemas, tuple[Event, ...], BatchContext], codec: BatchCodec, data: st.DataObject
) -> None:
    schemas, events, context = drawn
    fmt = BatchFormat(codec=codec, mode=BatchMode.CONTEXT)
    batch = encoded(Batch(events=events, format=fmt, context=context), schemas)
    # None: this side takes no context; {}: none held; another batch under the base's id; other events.
    other = ContextBase(batch_id=context.base.batch_id if context.base else 1, events=events)
    for bases in (None, {}, {other.batch_id: other}, {**held(context), 7: other}):
        result = same_outcome(batch, schemas, bases)
        if bases is None:
            assert result[1:] == ("CTX-1", 1)
        elif context.base is None:
            assert result[0] == events
        elif context.base.batch_id not in bases:
            assert result[:3] == (BaseUnavailable, "CTX-5", "unknown")
        elif bases[context.base.batch_id].digest != context.base.digest:
            assert result[:3] == (BaseUnavailable, "CTX-5", "stale")
            # The lookup comes before count: it holds whatever follows the digest.
            head = 4 + _head_size(batch[4:]) if codec is BatchCodec.NONE else None
            if head is not None:
                assert same_outcome(batch[:head] + data.draw(st.binary(max_size=4)), schemas, bases) == result
        else:
            assert result[0] == events


@covers("CTX-2", "RECORD-6", "LIMIT-10")
@SETTINGS
@given(contexts(), st.sampled_from(list(BatchCodec)), _SMALL_LIMITS)
def test_both_codecs_apply_the_limits_alike(
    drawn: tuple[RecordSchemas, tuple[Event, ...], BatchContext], codec: BatchCodec, limits: Limits
) -> None:
    schemas, events, context = drawn
    fmt = BatchFormat(codec=codec, mode=BatchMode.CONTEXT)
    same_outcome(encoded(Batch(events=events, format=fmt, context=context), schemas), schemas, held(context), limits)


@covers("CTX-3")
@settings(SETTINGS, max_examples=60)
@given(
    st.integers(0, (1 << 70) - 1),
    st.integers(0, (1 << 70) - 1),
    st.binary(max_size=10),
    st.sampled_from(list(BatchCodec)),
)
def test_both_codecs_agree_on_any_batch_id_and_base_id(
    batch_id: int, base_id: int, rest: bytes, codec: BatchCodec
) -> None:
    schemas = RecordSchemas({(TYPE_ID, VERSION): {"type": "record", "name": "R", "fields": []}})
    body = varint_bytes(batch_id, wide=True) + varint_bytes(base_id, wide=True) + rest
    header = bytes((0xB0, codec << 4 | BatchMode.CONTEXT, TYPE_ID, VERSION))
    same_outcome(header + _COMPRESS[codec](body), schemas, {})


# The meter-series day (sinktools.bench.series): each poll against the previous one, 100 readings, where
# offsets against the base are differences of 1 with the meters new to the base as outliers (RECORD-5's
# patched and delta_patched win there).
def _series_batches() -> tuple[RecordSchemas, list[tuple[Batch, dict[int, ContextBase]]]]:
    from sinkproto.schemas import default_registry
    from sinktools.bench.series import load

    polls = load().polls
    schemas = RecordSchemas.from_registry(default_registry())
    out = []
    for i in range(1, len(polls), 12):
        base = ContextBase(batch_id=i, events=polls[i - 1].events)
        out.append((Batch(events=polls[i].events, context=BatchContext(batch_id=i + 1, base=base)), {i: base}))
    return schemas, out


_SERIES = _series_batches()


@covers("CTX-13", "RECORD-9", "RECORD-5")
def test_series_polls_use_patched_and_both_codecs_agree() -> None:
    schemas, batches = _SERIES
    transforms: set[int] = set()
    for batch, bases in batches:
        data = encoded(batch, schemas)
        assert same_outcome(data, schemas, bases)[0] == batch.events
        body = FAST.encode_batch(
            Batch(
                events=batch.events,
                context=batch.context,
                format=BatchFormat(codec=BatchCodec.NONE, mode=BatchMode.CONTEXT),
            ),
            version=1,
            schemas=schemas,
        )[4:]
        columns = body[_head_size(body) :]  # count, base_rows, keys, offsets, ...
        transforms |= {columns[at + 1 + (columns[at] >= 0x80)] & 0x7F for at, _ in columns_of(columns)}
    assert {10, 11} <= transforms, transforms


@covers("RECORD-5", "RECORD-8", "RECORD-12", "CTX-7")
@settings(SETTINGS, max_examples=100)
@given(st.integers(0, len(_SERIES[1]) - 1), st.data())
def test_both_codecs_agree_on_mutated_series_polls(which: int, data: st.DataObject) -> None:
    schemas, batches = _SERIES
    batch, bases = batches[which]
    body = bytearray(
        FAST.encode_batch(
            Batch(
                events=batch.events,
                context=batch.context,
                format=BatchFormat(codec=BatchCodec.NONE, mode=BatchMode.CONTEXT),
            ),
            version=1,
            schemas=schemas,
        )
    )
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(4, len(body) - 1))
        body[at] ^= 1 << data.draw(st.integers(0, 7))
    same_outcome(bytes(body), schemas, bases)
