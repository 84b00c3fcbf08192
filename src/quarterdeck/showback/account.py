"""`account(records, prices, window, aggregate, now) -> AllocationSet`: GPU-hours and cost. Pure.

Per group of the aggregate (namespace, `label:team`, queue, model, pod, node, or a
comma-joined combination, as OpenCost aggregates), over the window:
- GPU-hours *allocated*: held time times GPUs (a share counts its milli-GPUs, a MIG
  instance its compute slices of 7);
- GPU-hours *used* and *idle*: allocated hours split by the utilisation samples
  (35 % busy: 0.35 used, 0.65 idle); hours without samples are *unmeasured*;
- cost of each, from `Prices` (MIG by instance-hour and profile), plus CPU and memory.
A group with GPU time on a model that has no price gets `gpu_cost = None` and names the
model in `unpriced`: a missing price is never a silent zero.
Numbers are rounded to 9 decimals only when shown (`round_hours`); costs are Decimals.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from quarterdeck.showback.claims import MILLI_PER_GPU
from quarterdeck.showback.prices import Prices, mig_fraction, unpriced_name
from quarterdeck.showback.usage import UsageRecord
from quarterdeck.showback.window import Window

UNALLOCATED = "__unallocated__"  # OpenCost's name for "no value for this property"
PROPERTIES = ("namespace", "queue", "model", "pod", "node", "cluster")
ALIASES = {"clusterqueue": "queue", "team": "label:team", "controller": "pod"}
GIB = 1024**3
HOUR = 3600.0


class AggregateError(ValueError):
    """An aggregate the API cannot group by; the message names the field."""


def parse_aggregate(text: str) -> tuple[str, ...]:
    """`namespace`, `label:team`, `queue,model`: the properties to group by."""
    parts = tuple(ALIASES.get(p.strip(), p.strip()) for p in text.split(",") if p.strip())
    if not parts:
        raise AggregateError("aggregate: empty; use namespace, label:team, queue, model, pod")
    for p in parts:
        if p not in PROPERTIES and not (p.startswith("label:") and len(p) > 6):
            raise AggregateError(
                f"aggregate: {p!r} is not a property; use namespace, label:NAME, queue, "
                "model, pod, node or cluster"
            )
    return parts


@dataclass
class Allocation:
    name: str
    properties: dict[str, str]
    window: Window
    gpu_hours: float = 0.0
    gpu_hours_used: float = 0.0
    gpu_hours_idle: float = 0.0
    gpu_hours_unmeasured: float = 0.0
    mig_instance_hours: dict[str, float] = field(default_factory=dict)
    cpu_core_hours: float = 0.0
    ram_byte_hours: float = 0.0
    gpu_cost: Decimal | None = Decimal(0)
    gpu_idle_cost: Decimal | None = Decimal(0)
    cpu_cost: Decimal = Decimal(0)
    ram_cost: Decimal = Decimal(0)
    unpriced: tuple[str, ...] = ()
    pods: int = 0
    # per price key (model, MIG profile): (units allocated, units idle); units are
    # GPU-hours, or instance-hours for MIG
    _units: dict[tuple[str, str | None], list[float]] = field(default_factory=dict, repr=False)

    @property
    def total_cost(self) -> Decimal | None:
        if self.gpu_cost is None:
            return None
        return self.gpu_cost + self.cpu_cost + self.ram_cost

    @property
    def gpu_utilisation(self) -> float | None:
        measured = self.gpu_hours_used + self.gpu_hours_idle
        return self.gpu_hours_used / measured if measured else None


@dataclass(frozen=True)
class AllocationSet:
    window: Window
    aggregate: tuple[str, ...]
    allocations: dict[str, Allocation]
    currency: str = "USD"

    def total(self) -> Allocation:
        return merge("__total__", self.window, self.allocations.values())


def _key(record: UsageRecord, aggregate: Sequence[str], cluster: str) -> tuple[str, dict[str, str]]:
    props: dict[str, str] = {}
    for prop in aggregate:
        if prop.startswith("label:"):
            value = record.label(prop[6:]) or ""
        elif prop == "cluster":
            value = cluster
        else:
            value = str(getattr(record, prop))
        props[prop] = value or UNALLOCATED
    return "/".join(props.values()), props


def _split(record: UsageRecord, start: float, end: float) -> tuple[float, float, float]:
    """Seconds in [start, end) at each utilisation: (busy-weighted, idle-weighted, unmeasured)."""
    used = idle = unmeasured = 0.0
    steps = record.util
    if not steps or steps[0][0] > start:
        first = steps[0][0] if steps else end
        unmeasured += max(0.0, min(first, end) - start)
    for i, (at, pct) in enumerate(steps):
        nxt = steps[i + 1][0] if i + 1 < len(steps) else end
        a, b = max(at, start), min(nxt, end)
        if b <= a:
            continue
        if pct is None:
            unmeasured += b - a
        else:
            used += (b - a) * pct / 100.0
            idle += (b - a) * (100.0 - pct) / 100.0
    return used, idle, unmeasured


def account(
    records: Iterable[UsageRecord],
    prices: Prices,
    window: Window,
    aggregate: Sequence[str],
    now: float,
    cluster: str = "default",
) -> AllocationSet:
    """Every record's share of `window`, grouped by `aggregate` and priced.

    The loop is the hot path (100,000 pods in well under a second): group keys are
    memoised on the record's identifying fields and sums kept in plain lists."""
    w_start, w_end = window.start, min(window.end, now)
    by_pod = "pod" in aggregate
    keys: dict[tuple[object, ...], str] = {}
    groups: dict[str, Allocation] = {}
    sums: dict[str, list[float]] = {}  # pods, cpu-h, ram-byte-h, gpu-h, used, idle, unmeasured
    for r in records:
        end = r.end if r.end is not None and r.end < w_end else w_end
        start = r.start if r.start > w_start else w_start
        if end <= start:
            continue
        ident = (r.namespace, r.labels, r.queue, r.model, r.node, r.pod if by_pod else "")
        name = keys.get(ident)
        if name is None:
            name, props = _key(r, aggregate, cluster)
            keys[ident] = name
            if name not in groups:
                groups[name] = Allocation(name, props, window)
                sums[name] = [0.0] * 7
        acc = sums[name]
        seconds = end - start
        claim = r.claim
        acc[0] += 1
        acc[1] += seconds * claim.cpu_milli
        acc[2] += seconds * claim.memory_bytes
        profile = claim.mig_profile
        if not profile and not claim.gpu_milli:
            continue
        gpus = mig_fraction(profile) if profile else claim.gpu_milli / MILLI_PER_GPU
        util = r.util
        if len(util) == 1 and util[0][0] <= start and util[0][1] is not None:
            used = seconds * util[0][1] / 100.0
            idle, unmeasured = seconds - used, 0.0
        else:
            used, idle, unmeasured = _split(r, start, end)
        acc[3] += seconds * gpus
        acc[4] += used * gpus
        acc[5] += idle * gpus
        acc[6] += unmeasured * gpus
        alloc = groups[name]
        if profile:  # MIG is priced per instance-hour
            alloc.mig_instance_hours[profile] = (
                alloc.mig_instance_hours.get(profile, 0.0) + seconds / HOUR
            )
            units, idle_units = seconds / HOUR, idle / HOUR
        else:
            units, idle_units = seconds * gpus / HOUR, idle * gpus / HOUR
        price_key = (r.model, profile)
        unit_acc = alloc._units.get(price_key)
        if unit_acc is None:
            unit_acc = alloc._units[price_key] = [0.0, 0.0]
        unit_acc[0] += units
        unit_acc[1] += idle_units
    for name, alloc in groups.items():
        acc = sums[name]
        alloc.pods = int(acc[0])
        alloc.cpu_core_hours = acc[1] / 1000 / HOUR
        alloc.ram_byte_hours = acc[2] / HOUR
        alloc.gpu_hours = acc[3] / HOUR
        alloc.gpu_hours_used = acc[4] / HOUR
        alloc.gpu_hours_idle = acc[5] / HOUR
        alloc.gpu_hours_unmeasured = acc[6] / HOUR
        _price(alloc, prices)
    return AllocationSet(window, tuple(aggregate), groups, prices.currency)


def _d(value: float) -> Decimal:
    return Decimal(repr(round(value, 9)))


def _price(alloc: Allocation, prices: Prices) -> None:
    cost, idle_cost = Decimal(0), Decimal(0)
    unpriced = []
    for (model, profile), (units, idle_units) in sorted(
        alloc._units.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")
    ):
        price = prices.unit_price(model, profile)
        if price is None:
            unpriced.append(unpriced_name(model or "unknown", profile))
            continue
        cost += _d(units) * price
        idle_cost += _d(idle_units) * price
    alloc.unpriced = tuple(unpriced)
    alloc.gpu_cost = None if unpriced else cost
    alloc.gpu_idle_cost = None if unpriced else idle_cost
    alloc.cpu_cost = _d(alloc.cpu_core_hours) * prices.cpu_core_hour
    alloc.ram_cost = _d(alloc.ram_byte_hours / GIB) * prices.memory_gib_hour


def merge(name: str, window: Window, parts: Iterable[Allocation]) -> Allocation:
    """The sum of allocations (a total, or the steps of one group when accumulating)."""
    out = Allocation(name, {}, window)
    unpriced: set[str] = set()
    first = True
    for a in parts:
        out.properties = (
            dict(a.properties)
            if first
            else {k: v for k, v in out.properties.items() if a.properties.get(k) == v}
        )
        first = False
        out.gpu_hours += a.gpu_hours
        out.gpu_hours_used += a.gpu_hours_used
        out.gpu_hours_idle += a.gpu_hours_idle
        out.gpu_hours_unmeasured += a.gpu_hours_unmeasured
        for p, h in a.mig_instance_hours.items():
            out.mig_instance_hours[p] = out.mig_instance_hours.get(p, 0.0) + h
        out.cpu_core_hours += a.cpu_core_hours
        out.ram_byte_hours += a.ram_byte_hours
        out.cpu_cost += a.cpu_cost
        out.ram_cost += a.ram_cost
        out.pods += a.pods
        unpriced.update(a.unpriced)
        if out.gpu_cost is not None and a.gpu_cost is not None:
            out.gpu_cost += a.gpu_cost
        if out.gpu_idle_cost is not None and a.gpu_idle_cost is not None:
            out.gpu_idle_cost += a.gpu_idle_cost
    if unpriced:
        out.gpu_cost = out.gpu_idle_cost = None
    out.unpriced = tuple(sorted(unpriced))
    return out


def accumulate(sets: Sequence[AllocationSet], window: Window) -> AllocationSet:
    """Step sets summed into one set over `window` (OpenCost's `accumulate=true`)."""
    names: dict[str, list[Allocation]] = {}
    for s in sets:
        for name, a in s.allocations.items():
            names.setdefault(name, []).append(a)
    aggregate = sets[0].aggregate if sets else ()
    currency = sets[0].currency if sets else "USD"
    return AllocationSet(
        window, aggregate, {n: merge(n, window, parts) for n, parts in names.items()}, currency
    )


def round_hours(value: float) -> float:
    return round(value, 9)
