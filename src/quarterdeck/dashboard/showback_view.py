"""The showback page's numbers: GPU-hours, idle hours and cost per team, by the showback
package's own accounting (`showback.account.account`) over the cached UsageRecords and
the cluster's `Pricing/default`. No clock here: the shell passes `now`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from quarterdeck.api.showback import PricingSpec
from quarterdeck.showback.account import account, round_hours
from quarterdeck.showback.prices import Prices, from_pricing
from quarterdeck.showback.records import from_object
from quarterdeck.showback.window import parse

Obj = Mapping[str, Any]
WINDOW = "today"


def prices_of(pricings: Iterable[Obj]) -> Prices:
    """The prices of `Pricing/default`; none priced when there is none."""
    default = next((p for p in pricings if (p.get("metadata") or {}).get("name") == "default"),
                   None)
    if default is None:
        return Prices()
    return from_pricing(msgspec.convert(default.get("spec") or {}, PricingSpec))


def _money(value: Any) -> str | None:
    return None if value is None else f"{value:.2f}"


def team_costs(records: Iterable[Obj], pricings: Iterable[Obj], now: float,
               namespaces: set[str] | None = None, window: str = WINDOW) -> dict[str, Any]:
    """One row per namespace (a team) the viewer may see: GPU-hours allocated, used, idle
    and not measured, GPU cost and idle cost, and the total row."""
    span = parse(window, now)
    usage = [from_object(dict(r)) for r in records]
    if namespaces is not None:
        usage = [u for u in usage if u.namespace in namespaces]
    prices = prices_of(pricings)
    out = account(usage, prices, span, ("namespace",), now)
    rows = []
    for name, alloc in sorted(out.allocations.items()):
        rows.append({
            "team": name,
            "pods": alloc.pods,
            "gpuHours": round(round_hours(alloc.gpu_hours), 3),
            "usedHours": round(round_hours(alloc.gpu_hours_used), 3),
            "idleHours": round(round_hours(alloc.gpu_hours_idle), 3),
            "unmeasuredHours": round(round_hours(alloc.gpu_hours_unmeasured), 3),
            "gpuCost": _money(alloc.gpu_cost),
            "idleCost": _money(alloc.gpu_idle_cost),
            "unpriced": list(alloc.unpriced),
        })
    total = out.total()
    return {
        "window": window,
        "currency": out.currency,
        "teams": rows,
        "total": {"gpuHours": round(round_hours(total.gpu_hours), 3),
                  "gpuCost": _money(total.gpu_cost), "idleCost": _money(total.gpu_idle_cost)},
    }
