"""The ``meter-series`` profile: 100 meters polled every 15 minutes for a day, and its information.

A base station polls the same meters every 15 minutes and sends each poll's
readings as one batch. Unlike the ``meter`` profile (every field uniform
noise), this one has the structure real traffic has, drawn from stated
distributions (the docs' Performance page lists them):

- **Fleet**: 100 meters at the start of the day (serials a uniform
  100-subset of 1..999,999), and at each poll, with probability 5%, one new
  meter (a serial not yet used) whose registers start near zero and whose
  offsets start at 1.
- **Each meter** is, for the day: a household class (small, medium, large:
  50%, 35%, 15%, scaling its consumption 0.5, 1, 2.5 times), on one of four
  feeders (uniform), solar or not (10%), measuring reactive energy or not
  (30%), with a power factor around 0.93, 0.96 or 0.985 (20%, 50%, 30%).
- **Polls**: 96, every 900 s from 2023-11-14 00:00 (local time taken as UTC).
  A meter misses a poll with probability 2%: its next reading covers both
  intervals. It answers within the poll's first minute (uniform second
  0..59), or late with probability 5% (uniform second 60..599). The batch of
  a poll holds its readings in the order they arrived (timestamp, then
  serial).
- **Consumption** per 15 minutes (``active_energy_import_wh`` increments):
  zero with a probability that follows the time of day (60% at night, 10% in
  the evening peak), else 1 + a geometric number of watt-hours whose mean
  follows a residential mini-grid load curve (about 5 Wh at night, 80 Wh in
  the evening peak, for a medium household) times the household's class. A
  reading after a missed poll draws one increment with the two intervals'
  summed mean and the product of their zero probabilities.
- **Solar export** (``active_energy_export_wh``): solar meters export
  between 08:00 and 16:00, the same zero-or-geometric draw on a bell curve
  peaking at 120 Wh at noon; never at night.
- **Voltage** (``voltage_dv``): the feeder's nominal (231.0, 229.0, 233.0,
  227.0 V) minus a drop that follows the load curve (up to 6.0 V), plus the
  meter's own uniform -0.6..+0.6 V.
- **Frequency** (``frequency_mhz``): one grid frequency per poll, uniform
  in 49.960..50.040 Hz, shared by every meter, plus each meter's uniform
  -3..+3 mHz.
- **Power factor**: the meter's own cluster plus a uniform -8..+8 per mille.
- **Derived, so 0 bits**: ``current_ma`` (the interval's average power over
  voltage and power factor; a meter's first reading of the day draws it
  uniformly, as the ``meter`` profile does), the reactive register (the
  import increment times tan(acos(pf))), offsets (+1 per reading),
  ``interval_seconds``, ``phase``, event type and schema version.

:func:`information` computes -log2 of the probability of the committed
series under this generator: the generator's own distributions, each
reading conditional on the meter's previous one, with what an encoder
cannot see (a meter's class, feeder, solar flag and power-factor cluster,
a poll's grid frequency) summed out exactly. By Kraft's inequality, a code
fixed before the draw is shorter than this by k bits with probability at
most 2^-k: it is the floor an encoder can expect to reach on these bytes.
"""

from __future__ import annotations

import gzip
import json
import math
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sinkproto.messages import Event
from sinkproto.session.batching import batch_order

__all__ = [
    "SERIES_FILE",
    "SERIES_NAME",
    "Poll",
    "Series",
    "Term",
    "dump",
    "generate",
    "information",
    "load",
]

SERIES_NAME = "meter-series"
SERIES_FILE = Path(__file__).resolve().parent / "data" / "meter_series.json.gz"
SEED = 96_2023
METERS = 100
POLLS = 96
INTERVAL = 900
START = 1_699_920_000  # 2023-11-14 00:00 UTC
SERIALS = 1_000_000  # serials are drawn from 1..SERIALS-1
NEW_METER = 0.05  # per poll
MISS = 0.02  # a meter misses a poll
SLOW = 0.05  # a meter answers after the poll's first minute
#: Household classes: (name, share, consumption scale).
CLASSES: tuple[tuple[str, float, float], ...] = (("small", 0.5, 0.5), ("medium", 0.35, 1.0), ("large", 0.15, 2.5))
FEEDERS_DV: tuple[int, ...] = (2310, 2290, 2330, 2270)  # nominal voltage of each feeder, decivolts
SOLAR = 0.1
REACTIVE = 0.3
#: Power-factor clusters: (per mille, share).
PF_CLUSTERS: tuple[tuple[int, float], ...] = ((930, 0.2), (960, 0.5), (985, 0.3))
PF_SPREAD = 8  # per mille, uniform either side
VOLTAGE_SPREAD = 6  # decivolts, uniform either side
VOLTAGE_DROP = 60  # decivolts at the peak of the load curve
FREQUENCY = (49_960, 50_040)  # mHz, the grid's per poll
FREQUENCY_SPREAD = 3  # mHz, each meter's, uniform either side
#: Residential mini-grid load curve by hour: (mean Wh per 15 minutes of a medium household, share of zero increments).
LOAD: tuple[tuple[float, float], ...] = (
    *[(5.0, 0.6)] * 5,  # 00-05: fridges and a light
    (10.0, 0.45),  # 05
    (40.0, 0.2),  # 06
    (40.0, 0.2),  # 07: morning
    *[(20.0, 0.35)] * 9,  # 08-17: day, many people out
    (40.0, 0.2),  # 17
    *[(80.0, 0.1)] * 4,  # 18-22: evening peak
    (20.0, 0.3),  # 22
    (10.0, 0.4),  # 23
)
PEAK_LOAD = 80.0
#: Solar export by hour, 08:00 to 16:00: mean Wh per 15 minutes when exporting (zero share 30%).
EXPORT = {8: 30.0, 9: 70.0, 10: 100.0, 11: 120.0, 12: 120.0, 13: 100.0, 14: 70.0, 15: 30.0}
EXPORT_ZERO = 0.3
FIRST_IMPORT = (1_000_000, 40_000_000)  # registers of the meters installed before the day, as in `meter`
FIRST_EXPORT = (100_000, 5_000_000)
FIRST_REACTIVE = (10_000, 2_000_000)
FIRST_OFFSET = (35_000, 105_000)
FIRST_CURRENT = (0, 40_000)
NEW_REGISTER = (0, 999)  # a new meter's import register (factory test)


@dataclass(frozen=True)
class Poll:
    """One poll's batch: its start time and the readings in arrival order."""

    start: int
    events: tuple[Event, ...]


@dataclass(frozen=True)
class Series:
    name: str
    description: str
    polls: tuple[Poll, ...]

    def in_batch_order(self) -> Series:
        """The polls as the reference sender batches them: each poll's readings by (event type, key, offset)
        (BPUB-6), as the reference outbox sorts them, not in the order the meters answered (which their timestamps
        keep). Sorted, the keys of consecutive polls line up: a context batch's base_rows counts up (CTX-6)."""
        return Series(
            self.name,
            self.description,
            tuple(Poll(p.start, tuple(sorted(p.events, key=batch_order))) for p in self.polls),
        )

    @property
    def events(self) -> tuple[Event, ...]:
        return tuple(e for p in self.polls for e in p.events)


@dataclass
class _Meter:
    serial: int
    klass: int
    feeder: int
    solar: bool
    reactive: bool
    pf_cluster: int
    import_wh: int
    export_wh: int
    reactive_varh: int
    offset: int
    last_poll: int | None = None  # the poll of its last reading
    installed: int = -1  # the poll a new meter was installed at (read at once: it cannot miss that poll)


def _hour(poll: int) -> int:
    return (poll * INTERVAL // 3600) % 24


def _zero_geometric(rng: random.Random, zero: float, mean: float) -> int:
    """0 with probability ``zero``, else 1 + Geometric: mean ``mean`` (>= 1) for the non-zero part.

    Drawn by Bernoulli trials (exact float comparisons): the same integers on every platform.
    """
    if rng.random() < zero:
        return 0
    stop = 1 / mean
    k = 1
    while rng.random() >= stop:
        k += 1
    return k


def _log2_zero_geometric(k: int, zero: float, mean: float) -> float:
    if k == 0:
        return math.log2(zero) if zero > 0 else -math.inf
    if zero >= 1:
        return -math.inf
    stop = 1 / mean
    if stop >= 1:  # mean 1: the non-zero part is always 1
        return math.log2(1 - zero) if k == 1 else -math.inf
    return math.log2(1 - zero) + math.log2(stop) + (k - 1) * math.log2(1 - stop)


def _import_law(first: int, last: int, scale: float) -> tuple[float, float]:
    """(zero share, mean of the non-zero part) of the import increment over polls first+1..last."""
    zero, mean = 1.0, 0.0
    for poll in range(first + 1, last + 1):
        m, z = LOAD[_hour(poll)]
        zero *= z
        mean += m * scale
    return zero, max(1.0, mean)


def _export_law(first: int, last: int) -> tuple[float, float] | None:
    """As :func:`_import_law` for solar export; None: no interval in daylight, the increment is 0."""
    zero, mean, daylight = 1.0, 0.0, False
    for poll in range(first + 1, last + 1):
        hour = _hour(poll)
        if hour in EXPORT:
            daylight = True
            zero *= EXPORT_ZERO
            mean += EXPORT[hour]
    return (zero, max(1.0, mean)) if daylight else None


def _drop(poll: int) -> int:
    return round(VOLTAGE_DROP * LOAD[_hour(poll)][0] / PEAK_LOAD)


def _current_ma(import_wh: int, intervals: int, voltage_dv: int, pf: int) -> int:
    watts = import_wh * 3600 / (INTERVAL * intervals)
    return round(watts * 1e7 / (voltage_dv * pf))


def _pick(rng: random.Random, shares: Sequence[float]) -> int:
    u, total = rng.random(), 0.0
    for index, share in enumerate(shares):
        total += share
        if u < total:
            return index
    return len(shares) - 1


def generate() -> Series:
    """The series, from its seed (events Avro-encoded through the kit's registry, meter_reading v2)."""
    from sinkproto.schemas import default_registry

    registry = default_registry()
    rng = random.Random(SEED)
    used: set[int] = set()

    def new_meter(serial: int, installed: bool) -> _Meter:
        used.add(serial)
        klass = _pick(rng, [c[1] for c in CLASSES])
        feeder = rng.randrange(len(FEEDERS_DV))
        solar = rng.random() < SOLAR
        reactive = rng.random() < REACTIVE
        pf_cluster = _pick(rng, [c[1] for c in PF_CLUSTERS])
        if installed:
            return _Meter(
                serial,
                klass,
                feeder,
                solar,
                reactive,
                pf_cluster,
                rng.randint(*FIRST_IMPORT),
                rng.randint(*FIRST_EXPORT) if solar else 0,
                rng.randint(*FIRST_REACTIVE) if reactive else 0,
                rng.randint(*FIRST_OFFSET),
            )
        return _Meter(serial, klass, feeder, solar, reactive, pf_cluster, rng.randint(*NEW_REGISTER), 0, 0, 1)

    meters = [new_meter(s, True) for s in sorted(rng.sample(range(1, SERIALS), METERS))]
    polls = []
    for poll in range(POLLS):
        if rng.random() < NEW_METER:
            serial = rng.randrange(1, SERIALS - len(used))
            for taken in sorted(used):  # the serial-th unused number: uniform over the unused ones
                if taken <= serial:
                    serial += 1
            meters.append(new_meter(serial, False))
            meters[-1].installed = poll
        grid = rng.randint(*FREQUENCY)
        readings = []
        for meter in sorted(meters, key=lambda m: m.serial):
            if meter.installed != poll and rng.random() < MISS:
                continue
            latency = rng.randint(60, 599) if rng.random() < SLOW else rng.randint(0, 59)
            voltage = FEEDERS_DV[meter.feeder] - _drop(poll) + rng.randint(-VOLTAGE_SPREAD, VOLTAGE_SPREAD)
            frequency = grid + rng.randint(-FREQUENCY_SPREAD, FREQUENCY_SPREAD)
            pf = PF_CLUSTERS[meter.pf_cluster][0] + rng.randint(-PF_SPREAD, PF_SPREAD)
            if meter.last_poll is None:
                current = rng.randint(*FIRST_CURRENT)
            else:
                zero, mean = _import_law(meter.last_poll, poll, CLASSES[meter.klass][2])
                increment = _zero_geometric(rng, zero, mean)
                meter.import_wh += increment
                law = _export_law(meter.last_poll, poll) if meter.solar else None
                if law is not None:
                    meter.export_wh += _zero_geometric(rng, *law)
                if meter.reactive:
                    meter.reactive_varh += round(increment * math.tan(math.acos(pf / 1000)))
                current = _current_ma(increment, poll - meter.last_poll, voltage, pf)
            key = f"SM5R-{meter.serial:06d}"
            record = {
                "meter_serial": key,
                "interval_seconds": INTERVAL,
                "active_energy_import_wh": meter.import_wh,
                "active_energy_export_wh": meter.export_wh,
                "voltage_dv": voltage,
                "current_ma": current,
                "power_factor_permille": pf,
                "frequency_mhz": frequency,
                "reactive_energy_varh": meter.reactive_varh if meter.reactive else None,
                "phase": "SINGLE",
            }
            readings.append(
                Event(
                    event_type_id=1,
                    schema_version=2,
                    key=key.encode(),
                    offset=meter.offset,
                    timestamp=START + poll * INTERVAL + latency,
                    event_data=registry.encode(1, 2, record),
                )
            )
            meter.offset += 1
            meter.last_poll = poll
        readings.sort(key=lambda e: (e.timestamp, e.key))
        polls.append(Poll(START + poll * INTERVAL, tuple(readings)))
    return Series(
        SERIES_NAME,
        f"{METERS} meters (and new ones) polled every 15 minutes for a day: {POLLS} batches of meter_reading v2",
        tuple(polls),
    )


@dataclass(frozen=True)
class Term:
    """What one kind of draw costs, in bits, over the whole series."""

    what: str
    how: str
    bits: float


def _log2_sum_exp2(values: Sequence[float]) -> float:
    top = max(values)
    if top == -math.inf:
        return top
    return top + math.log2(sum(2 ** (v - top) for v in values))


def _mixture(prior: Sequence[float], per_latent: Sequence[float]) -> float:
    """log2 of sum over latent values of prior * 2^(log2-likelihood of the observations)."""
    return _log2_sum_exp2([math.log2(p) + ll for p, ll in zip(prior, per_latent)])


@dataclass(frozen=True)
class _Last:
    """A meter's last reading, what the next one is scored against."""

    poll: int
    import_wh: int
    export_wh: int
    reactive: int | None
    offset: int


@dataclass
class _Books:
    """-log2 probabilities, by term (positive bits)."""

    bits: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def add(self, what: str, log2_p: float) -> None:
        if log2_p == -math.inf:
            raise ValueError(f"{what}: the series holds a value this generator cannot draw")
        self.bits[what] -= log2_p


def _uniform(value: int, low: int, high: int) -> float:
    return -math.log2(high - low + 1) if low <= value <= high else -math.inf


def information(series: Series) -> list[Term]:
    """-log2 P(series) under :func:`generate`'s distributions, by kind of draw (bits over the whole series).

    Each reading is scored given the meter's previous reading; a meter's
    class, feeder, solar flag and power-factor cluster and a poll's grid
    frequency are not in the bytes, so their values are summed out (the
    probability of what an encoder sees, not of the draws behind it).
    """
    from sinkproto.schemas import default_registry

    registry = default_registry()
    books = _Books()
    seen: dict[int, _Last] = {}  # serial -> the meter's last reading
    #: per meter, log2-likelihood of its observations under each value of each hidden trait
    hidden: dict[int, dict[str, list[float]]] = {}
    initial = {int(e.key.decode()[5:]) for e in series.events if e.offset >= FIRST_OFFSET[0]}  # installed before
    if len(initial) != METERS:
        raise ValueError(f"the series starts with {METERS} meters, this one with {len(initial)}")
    books.add(
        "fleet: serials of the first meters",
        -(math.lgamma(SERIALS) - math.lgamma(METERS + 1) - math.lgamma(SERIALS - METERS)) / math.log(2),
    )
    used = len(initial)
    existing = set(initial)  # the fleet at this poll
    for index, poll in enumerate(series.polls):
        news = [e for e in poll.events if e.offset == 1]
        if len(news) > 1:
            raise ValueError("at most one new meter per poll")
        books.add("fleet: a new meter or not, per poll", math.log2(NEW_METER if news else 1 - NEW_METER))
        answered = {int(e.key.decode()[5:]) for e in poll.events}
        for serial in existing:  # a meter installed at this poll is read at once: no draw
            books.add("polls: missed or answered", math.log2(1 - MISS if serial in answered else MISS))
        if news:
            books.add("fleet: serials of the first meters", -math.log2(SERIALS - 1 - used))
            used += 1
            existing.add(int(news[0].key.decode()[5:]))
        if not answered <= existing:
            raise ValueError(f"poll {index}: a reading of a meter the fleet does not have")
        frequencies = []
        for event in poll.events:
            serial = int(event.key.decode()[5:])
            r = registry.decode(1, 2, event.event_data)
            latency = event.timestamp - poll.start
            books.add(
                "timestamps: latency",
                math.log2(1 - SLOW) + _uniform(latency, 0, 59)
                if latency < 60
                else math.log2(SLOW) + _uniform(latency, 60, 599),
            )
            frequencies.append(r["frequency_mhz"])
            traits = hidden.setdefault(
                serial,
                {
                    "class": [0.0] * len(CLASSES),
                    "feeder": [0.0] * len(FEEDERS_DV),
                    "solar": [0.0, 0.0],
                    "pf": [0.0] * len(PF_CLUSTERS),
                },
            )
            for feeder, nominal in enumerate(FEEDERS_DV):
                traits["feeder"][feeder] += _uniform(
                    r["voltage_dv"] - (nominal - _drop(index)), -VOLTAGE_SPREAD, VOLTAGE_SPREAD
                )
            for cluster, (centre, _share) in enumerate(PF_CLUSTERS):
                traits["pf"][cluster] += _uniform(r["power_factor_permille"] - centre, -PF_SPREAD, PF_SPREAD)
            previous = seen.get(serial)
            if previous is None:
                books.add(
                    "first reading: registers, offset, current",
                    _first(r, event.offset, traits) + _uniform(r["current_ma"], *FIRST_CURRENT),
                )
            else:
                last_poll = previous.poll
                increment = r["active_energy_import_wh"] - previous.import_wh
                for klass, (_name, _share, scale) in enumerate(CLASSES):
                    traits["class"][klass] += _log2_zero_geometric(increment, *_import_law(last_poll, index, scale))
                exported = r["active_energy_export_wh"] - previous.export_wh
                law = _export_law(last_poll, index)
                traits["solar"][0] += 0.0 if exported == 0 else -math.inf
                traits["solar"][1] += (
                    (0.0 if exported == 0 else -math.inf) if law is None else _log2_zero_geometric(exported, *law)
                )
                derived = _current_ma(increment, index - last_poll, r["voltage_dv"], r["power_factor_permille"])
                reactive = (
                    None
                    if previous.reactive is None
                    else previous.reactive + round(increment * math.tan(math.acos(r["power_factor_permille"] / 1000)))
                )
                if (
                    r["current_ma"] != derived
                    or r["reactive_energy_varh"] != reactive
                    or event.offset != previous.offset + 1
                ):
                    raise ValueError(
                        f"reading {serial} at poll {index}: a derived field is not what the generator derives"
                    )
            seen[serial] = _Last(
                index,
                r["active_energy_import_wh"],
                r["active_energy_export_wh"],
                r["reactive_energy_varh"],
                event.offset,
            )
        if frequencies:
            low, high = FREQUENCY
            books.add(
                "frequency: the grid's per poll and each meter's",
                _log2_sum_exp2(
                    [
                        _uniform(grid, low, high)
                        + sum(_uniform(f - grid, -FREQUENCY_SPREAD, FREQUENCY_SPREAD) for f in frequencies)
                        for grid in range(min(frequencies) - FREQUENCY_SPREAD, max(frequencies) + FREQUENCY_SPREAD + 1)
                    ]
                ),
            )
    for traits in hidden.values():
        books.add(
            "consumption: import increments (household class summed out)",
            _mixture([c[1] for c in CLASSES], traits["class"]),
        )
        books.add("solar export increments (solar or not summed out)", _mixture([1 - SOLAR, SOLAR], traits["solar"]))
        books.add("voltage (feeder summed out)", _mixture([1 / len(FEEDERS_DV)] * len(FEEDERS_DV), traits["feeder"]))
        books.add("power factor (cluster summed out)", _mixture([c[1] for c in PF_CLUSTERS], traits["pf"]))
    how = {
        "fleet: serials of the first meters": f"a uniform {METERS}-subset of 1..{SERIALS - 1:,}, then each new meter's among the unused",
        "fleet: a new meter or not, per poll": f"Bernoulli({NEW_METER}) per poll",
        "polls: missed or answered": f"Bernoulli({MISS}) per meter and poll",
        "timestamps: latency": f"second 0..59 of the poll, or with probability {SLOW} second 60..599",
        "first reading: registers, offset, current": "uniform registers, offset and current (as the meter profile), or a new meter's",
        "frequency: the grid's per poll and each meter's": f"uniform {FREQUENCY[0]:,}..{FREQUENCY[1]:,} mHz per poll, +-{FREQUENCY_SPREAD} per meter",
        "consumption: import increments (household class summed out)": "zero or 1 + geometric, by the hour's load curve and the class",
        "solar export increments (solar or not summed out)": "zero or 1 + geometric, 08:00-16:00, for the 10% solar meters",
        "voltage (feeder summed out)": f"the feeder's nominal minus the load drop, +-{VOLTAGE_SPREAD} dV per reading",
        "power factor (cluster summed out)": f"the meter's cluster +-{PF_SPREAD} per mille per reading",
    }
    terms = [Term(what, how[what], bits) for what, bits in books.bits.items()]
    terms.append(Term("current, reactive register, offsets, interval, phase, type, version", "derived: 0 bits", 0.0))
    return terms


def _first(r: dict[str, object], offset: int, traits: dict[str, list[float]]) -> float:
    """log2 P(a meter's first reading's registers and offset); the solar trait's books get the export register."""
    importing, exporting = r["active_energy_import_wh"], r["active_energy_export_wh"]
    assert isinstance(importing, int) and isinstance(exporting, int)
    reactive = r["reactive_energy_varh"]
    if offset == 1:  # a new meter
        traits["solar"][0] += 0.0 if exporting == 0 else -math.inf
        traits["solar"][1] += 0.0 if exporting == 0 else -math.inf
        bits = _uniform(importing, *NEW_REGISTER)
        bits += math.log2(REACTIVE) if reactive == 0 else math.log2(1 - REACTIVE) if reactive is None else -math.inf
        return bits
    traits["solar"][0] += 0.0 if exporting == 0 else -math.inf
    traits["solar"][1] += _uniform(exporting, *FIRST_EXPORT)
    bits = _uniform(importing, *FIRST_IMPORT) + _uniform(offset, *FIRST_OFFSET)
    if reactive is None:
        bits += math.log2(1 - REACTIVE)
    else:
        assert isinstance(reactive, int)
        bits += math.log2(REACTIVE) + _uniform(reactive, *FIRST_REACTIVE)
    return bits


def _event_row(e: Event) -> list[object]:
    return [e.key.decode(), e.offset, e.timestamp, e.event_data.hex()]


def dump(series: Series) -> bytes:
    """The series as gzip'd JSON (no timestamp in the gzip header: the same bytes every time)."""
    obj = {
        "name": series.name,
        "description": series.description,
        "event_type_id": 1,
        "schema_version": 2,
        "polls": [{"start": p.start, "events": [_event_row(e) for e in p.events]} for p in series.polls],
    }
    text = json.dumps(obj, separators=(",", ":")).replace('{"start"', '\n{"start"') + "\n"
    return gzip.compress(text.encode(), compresslevel=9, mtime=0)


def load(path: Path = SERIES_FILE) -> Series:
    """The committed series (what the benchmark measures)."""
    obj = json.loads(gzip.decompress(path.read_bytes()))
    polls = tuple(
        Poll(
            p["start"],
            tuple(
                Event(
                    event_type_id=obj["event_type_id"],
                    schema_version=obj["schema_version"],
                    key=key.encode(),
                    offset=offset,
                    timestamp=timestamp,
                    event_data=bytes.fromhex(data),
                )
                for key, offset, timestamp, data in p["events"]
            ),
        )
        for p in obj["polls"]
    )
    return Series(obj["name"], obj["description"], polls)
