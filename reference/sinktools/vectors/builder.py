"""The case builder every vector generator uses: one :class:`Builder` per kind (vectors/cases/*)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sinkproto.jsonform import bases_to_json
from sinkproto.messages import ContextBase

from .model import Case, encode_kind, value_to_json

__all__ = ["Builder"]


def _bases(bases: Sequence[ContextBase] | None) -> list[dict[str, Any]] | None:
    """A case's ``bases``: None when the decoder takes no context (CTX-1), else the bases it holds."""
    return None if bases is None else bases_to_json({b.batch_id: b for b in bases})


class Builder:
    """Collects cases of one kind with the conventions of that kind."""

    version = 0  # the protocol version whose JSON form the values take (a batch's "format" key from version 1)

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.cases: list[Case] = []

    def valid(
        self,
        id: str,
        description: str,
        requirements: list[str],
        value: Any,
        *,
        data: bytes | None = None,
        canonical: bool = True,
        limits: dict[str, Any] | None = None,
        bases: Sequence[ContextBase] | None = None,
    ) -> bytes:
        if data is None:
            data = encode_kind(self.kind, value, self.version)
        elif self.literal_must_match(data, canonical):
            produced = encode_kind(self.kind, value, self.version)
            if data != produced:
                raise AssertionError(f"{id}: literal bytes differ from the encoder's: {data.hex()} vs {produced.hex()}")
        self.cases.append(
            Case(
                id=id,
                description=description,
                requirements=requirements,
                hex=data.hex(),
                result="valid",
                canonical=canonical,
                value=value_to_json(self.kind, value, self.version),
                limits=limits,
                bases=_bases(bases),
            )
        )
        return data

    def literal_must_match(self, data: bytes, canonical: bool) -> bool:
        """Whether a valid case's literal bytes must be what the encoder produces for its value."""
        return canonical

    def invalid(
        self,
        id: str,
        description: str,
        requirements: list[str],
        data: bytes,
        error_class: str,
        *,
        limits: dict[str, Any] | None = None,
        bases: Sequence[ContextBase] | None = None,
    ) -> None:
        self.cases.append(
            Case(
                id=id,
                description=description,
                requirements=requirements,
                hex=data.hex(),
                result="invalid",
                error_class=error_class,
                limits=limits,
                bases=_bases(bases),
            )
        )

    def unknown_base(
        self, id: str, description: str, requirements: list[str], data: bytes, bases: Sequence[ContextBase]
    ) -> None:
        """A batch in mode context whose base the decoder, holding ``bases``, lacks or holds stale (CTX-5)."""
        self.cases.append(
            Case(
                id=id,
                description=description,
                requirements=requirements,
                hex=data.hex(),
                result="unknown_base",
                bases=_bases(bases),
            )
        )

    def acceptable(
        self,
        id: str,
        description: str,
        requirements: list[str],
        value: Any,
        data: bytes,
        error_class: str,
        decided_by: dict[str, Any],
    ) -> None:
        self.cases.append(
            Case(
                id=id,
                description=description,
                requirements=requirements,
                hex=data.hex(),
                result="acceptable",
                value=value_to_json(self.kind, value, self.version),
                error_class=error_class,
                decided_by=decided_by,
            )
        )

    def truncations(
        self, stem: str, data: bytes, requirements: list[str], *, valid_prefixes: Collection[int] = frozenset()
    ) -> None:
        """Every proper prefix of ``data`` (except listed valid ones) is ``truncated``."""
        for cut in range(len(data)):
            if cut in valid_prefixes:
                continue
            self.invalid(
                f"{stem}.truncated-at-{cut}",
                f"The first {cut} of {len(data)} bytes of a valid unit: input ends inside a field.",
                requirements,
                data[:cut],
                "truncated",
            )
