"""A team's Budget over its current period: spent, percent, thresholds crossed. Pure.

The period is calendar UTC (`daily`, `weekly` from Monday, `monthly` from the 1st).
A threshold fires once per period: the crossings already recorded in status are
passed back in, so a restarted operator does not alert twice. A cost budget over an
unpriced model is `unpriced`: its percent counts only the priced part and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from quarterdeck.api.showback import BudgetSpec
from quarterdeck.showback.account import Allocation


@dataclass(frozen=True)
class BudgetState:
    period_start: float
    gpu_hours: float
    cost: Decimal | None
    percent: float
    crossed: tuple[int, ...]
    new: tuple[int, ...]  # crossed for the first time this period
    unpriced: tuple[str, ...] = ()


def period_start(period: str, now: float) -> float:
    day = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "weekly":
        day -= timedelta(days=day.weekday())
    elif period == "monthly":
        day = day.replace(day=1)
    return day.timestamp()


def evaluate(
    spec: BudgetSpec,
    spent: Allocation | None,
    already: tuple[int, ...],
    already_period: float | None,
    now: float,
) -> BudgetState:
    start = period_start(spec.period, now)
    if already_period != start:
        already = ()  # a new period: every threshold may fire again
    hours = spent.gpu_hours if spent else 0.0
    cost = spent.total_cost if spent else Decimal(0)
    priced = (spent.gpu_cost or Decimal(0)) + spent.cpu_cost + spent.ram_cost if spent else cost
    if spec.gpu_hours:
        percent = 100.0 * hours / float(spec.gpu_hours) if float(spec.gpu_hours) else 0.0
    elif spec.cost:
        limit = Decimal(spec.cost)
        percent = float(100 * (priced or Decimal(0)) / limit) if limit else 0.0
    else:
        percent = 0.0
    crossed = tuple(sorted(t for t in spec.thresholds if percent >= t))
    new = tuple(t for t in crossed if t not in already)
    return BudgetState(
        start,
        hours,
        cost,
        percent,
        tuple(sorted({*already, *crossed})),
        new,
        spent.unpriced if spent else (),
    )
