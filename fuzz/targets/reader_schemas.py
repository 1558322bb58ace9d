"""reader_schemas: the fast codec's ``decode_reader_schemas`` (version 1) on arbitrary bytes.

The reader declaration of a version-1 request or accepting response
(SNEG-1, SNEG-2, LIMIT-8) on its own: counts, strictly ascending lists,
nothing after it. A decoded declaration re-encodes to an equal one, and
``max_declared_types`` or ``max_declared_versions`` one below what it
needs refuses it.
"""

from __future__ import annotations

from ..seeds import units_v1
from ..target import Check, Target


def setup() -> Check:
    from sinkproto import Limits
    from sinkproto.fast_codec import decode_reader_schemas, encode_reader_schemas

    from ..oracles import REQUIREMENT_IDS_V1, TIGHT_VARINTS, check_roundtrip, check_tighter, decode_or_none

    def check(data: bytes) -> None:
        declared = decode_or_none(decode_reader_schemas, data, known=REQUIREMENT_IDS_V1)
        if isinstance(declared, Exception):
            return
        check_roundtrip(declared, encode_reader_schemas, decode_reader_schemas)
        check_tighter(decode_reader_schemas, data, declared, TIGHT_VARINTS, must_fail=False, known=REQUIREMENT_IDS_V1)
        needs = {
            "max_declared_types": len(declared.entries),
            "max_declared_versions": max(len(versions) for _, versions in declared.entries),
        }
        for name, needed in needs.items():
            check_tighter(
                decode_reader_schemas,
                data,
                declared,
                Limits(**{name: needed - 1}),
                must_fail=True,
                known=REQUIREMENT_IDS_V1,
            )

    return check


TARGET = Target(
    name="reader_schemas",
    description="decode_reader_schemas: version 1's reader declaration, its ordering rules and limits",
    setup=setup,
    seeds=lambda: units_v1("reader_schemas"),
    max_len=1024,
)
