"""The PUBLISH event payload (PUB-1) and the NACK payload (NACK-1), declared with construct.

Both are units of their own (``encode_event``, ``decode_nack_payload``) and
parts of frames: PUBLISH carries an event, NACK and the QUARANTINED
connection response carry a NACK payload.
"""

from __future__ import annotations

from typing import Any

from construct import Adapter, Struct

from ..messages import Event, NackPayload
from .primitives import Chunk, End, RestBytes, Text, VarUInt

__all__ = ["event", "nack_payload", "nack_payload_struct"]

# -- PUB-1: the event ------------------------------------------------------------------

event_struct = Struct(
    "event_type_id" / VarUInt(what="event_type_id"),
    "schema_version" / VarUInt(what="schema_version"),
    "key" / Chunk("key", limit="max_key_size"),
    "offset" / VarUInt(what="offset"),
    "timestamp" / VarUInt(what="timestamp"),
    "event_data" / Chunk("event_data", limit="max_event_data_size"),
    End("PUB-2"),
)

_EVENT_FIELDS = ("event_type_id", "schema_version", "key", "offset", "timestamp", "event_data")


class EventAdapter(Adapter):
    def _decode(self, obj: Any, context: Any, path: str) -> Event:
        return Event(**{name: obj[name] for name in _EVENT_FIELDS})

    def _encode(self, obj: Event, context: Any, path: str) -> dict[str, Any]:
        return {name: getattr(obj, name) for name in _EVENT_FIELDS}


event = EventAdapter(event_struct)

# -- NACK-1: the NACK payload ------------------------------------------------------------

nack_payload_struct = Struct(
    "machine_message" / Chunk("machine_message"),
    "human_message" / Text(RestBytes(), "human_message"),
)


class NackPayloadAdapter(Adapter):
    def _decode(self, obj: Any, context: Any, path: str) -> NackPayload:
        return NackPayload(machine_message=obj.machine_message, human_message=obj.human_message)

    def _encode(self, obj: NackPayload, context: Any, path: str) -> dict[str, Any]:
        return {"machine_message": obj.machine_message, "human_message": obj.human_message}


nack_payload = NackPayloadAdapter(nack_payload_struct)
