"""How many bits the ``meter`` profile holds: the entropy of its generator, field by field.

A lower bound for any batch encoding of the profile, computed from how
:mod:`.profiles` draws it (``random.Random`` taken as an ideal source of
independent uniform draws; the fixed seed is ignored, as every encoder that
does not know it must ignore it).

The 100 events are a function of these independent draws, and the draws
can be read back from the events (the function is one to one), so the
entropy of the events is the sum of the entropies of the draws:

- **serials**: a uniform 100-subset of 1..999,999 (``rng.sample``, sorted):
  log2 C(999,999, 100) bits.
- **order**: which meter takes which timestamp, a uniform permutation
  (``rng.shuffle``): log2 100! bits.
- **timestamps**: 100 uniform draws in a 900-second window, sorted: the
  sorted sequence (a multiset) has probability
  100! / (m_1! ... m_900!) / 900^100 where m_s counts the readings at second
  s, so its entropy is 100 log2 900 - log2 100! + E[sum log2 m_s!], and the
  expectation is 900 E[log2 M!] for M ~ Binomial(100, 1/900) (exact sum).
- **offset** and the Avro fields **active_energy_import_wh**,
  **voltage_dv**, **current_ma**, **power_factor_permille**,
  **frequency_mhz**: uniform over their inclusive ranges (``randint``):
  log2 of the number of values, per event.
- **active_energy_export_wh**: 0 for the 90% import-only meters, else
  uniform in its range: h(0.1) + 0.1 log2 n per event (h the binary
  entropy: whether the meter is solar).
- **reactive_energy_varh**: null for 70%, else uniform: h(0.3) + 0.3 log2 n.
- Constant for every event, so 0 bits: event_type_id 1, schema_version 2,
  interval_seconds 900, phase SINGLE, the key (it is the serial, already
  counted), the Avro encoding (a fixed function of the record), and the
  batch's own framing (its count and flags).

Two figures per draw: the **entropy** (the expected information, the
average size floor of any code for this generator, Shannon's source
coding theorem) and the **information of the committed profile**
(-log2 of its probability under the generator). For the second, Kraft's
inequality gives: any uniquely decodable code fixed before the draw is
shorter than it by k bits or more with probability at most 2^-k, so it
bounds what any encoder can expect to reach on these 100 events.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from .profiles import EVENTS, METER_RANGES, REACTIVE_SHARE, SERIALS, SOLAR_SHARE, WINDOW, Profile

__all__ = ["Term", "meter_information", "total_bits"]


@dataclass(frozen=True)
class Term:
    """One independent draw of the generator and its information, in bits, over all events."""

    what: str
    how: str
    entropy_bits: float  # expected over the generator
    profile_bits: float  # -log2 of the probability of the committed profile's values

    @property
    def entropy_bytes(self) -> float:
        return self.entropy_bits / 8


def _log2_factorial(n: int) -> float:
    return math.lgamma(n + 1) / math.log(2)


def _log2_binomial(n: int, k: int) -> float:
    return _log2_factorial(n) - _log2_factorial(k) - _log2_factorial(n - k)


def _values(field: str) -> int:
    low, high = METER_RANGES[field]
    return high - low + 1


def _binary_entropy(p: float) -> float:
    return -p * math.log2(p) - (1 - p) * math.log2(1 - p)


def _expected_log2_factorial_of_binomial(n: int, p: float) -> float:
    """E[log2 M!] for M ~ Binomial(n, p), summed exactly over M = 0..n."""
    return sum(math.comb(n, m) * p**m * (1 - p) ** (n - m) * _log2_factorial(m) for m in range(n + 1))


def meter_information(profile: Profile) -> list[Term]:
    """The generator's independent draws for ``profile`` (the committed ``meter`` profile), in bits."""
    from sinkproto.schemas import default_registry

    if len(profile.events) != EVENTS:
        raise ValueError(f"the meter profile has {EVENTS} events, this one {len(profile.events)}")
    registry = default_registry()
    records = [registry.decode(e.event_type_id, e.schema_version, e.event_data) for e in profile.events]
    n = EVENTS
    per_second = Counter(e.timestamp for e in profile.events)
    sorted_times = n * math.log2(WINDOW) - _log2_factorial(n)
    terms = [
        Term(
            "meter serials (and keys)",
            f"a uniform {n}-subset of 1..{SERIALS - 1:,}: log2 C({SERIALS - 1:,}, {n})",
            _log2_binomial(SERIALS - 1, n),
            _log2_binomial(SERIALS - 1, n),
        ),
        Term("order of the meters", f"a uniform permutation: log2 {n}!", _log2_factorial(n), _log2_factorial(n)),
        Term(
            "timestamps",
            f"{n} uniform seconds of {WINDOW}, sorted: {n} log2 {WINDOW} - log2 {n}! + sum of log2 m_s! "
            f"(m_s readings at second s; expected {WINDOW} E[log2 M!], M ~ Bin({n}, 1/{WINDOW}))",
            sorted_times + WINDOW * _expected_log2_factorial_of_binomial(n, 1 / WINDOW),
            sorted_times + sum(_log2_factorial(m) for m in per_second.values()),
        ),
    ]
    for field in (
        "offset",
        "active_energy_import_wh",
        "voltage_dv",
        "current_ma",
        "power_factor_permille",
        "frequency_mhz",
    ):
        low, high = METER_RANGES[field]
        bits = n * math.log2(_values(field))
        terms.append(Term(field, f"uniform in {low:,}..{high:,}: log2 {_values(field):,} per event", bits, bits))
    for field, share, absent in (
        ("active_energy_export_wh", SOLAR_SHARE, 0),
        ("reactive_energy_varh", REACTIVE_SHARE, None),
    ):
        low, high = METER_RANGES[field]
        values = _values(field)
        present = sum(1 for r in records if r[field] != absent)
        terms.append(
            Term(
                field,
                f"{'null' if absent is None else absent} for {1 - share:.0%}, else uniform in {low:,}..{high:,}: h({share}) + {share} log2 {values:,} "
                f"per event ({present} of {n} here)",
                n * (_binary_entropy(share) + share * math.log2(values)),
                present * (math.log2(values) - math.log2(share)) - (n - present) * math.log2(1 - share),
            )
        )
    terms.append(
        Term("event_type_id, schema_version, interval_seconds, phase, Avro framing", "constant: 0 bits", 0.0, 0.0)
    )
    return terms


def total_bits(terms: list[Term]) -> tuple[float, float]:
    """(entropy, information of the committed profile), in bits."""
    return sum(t.entropy_bits for t in terms), sum(t.profile_bits for t in terms)
