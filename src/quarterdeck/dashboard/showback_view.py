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


def _limit(spec: Obj, currency: str) -> str:
    if spec.get("gpuHours"):
        return f"{spec['gpuHours']} GPU-hours"
    if spec.get("cost"):
        return f"{spec['cost']} {currency}"
    return "no limit"


def budget_state(budget: Obj) -> str:
    """`not evaluated` until showback has written a status, `invalid` when it refused
    the spec, then `exceeded` (100 % or more), `warning` (a lower threshold crossed) or
    `ok`: showback's own verdict, read from the Budget's status."""
    status = budget.get("status") or {}
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    if ready is None:
        return "not evaluated"
    if ready.get("status") != "True":
        return "invalid"
    if float(status.get("percent") or 0) >= 100:
        return "exceeded"
    return "warning" if status.get("crossed") else "ok"


def budget_rows(budgets: Iterable[Obj], currency: str = "") -> list[dict[str, Any]]:
    """Each Budget as showback last evaluated it (its status; nothing recomputed here):
    the limit, what the team spent this period, the percent, each threshold and whether
    it is crossed, and whether the team's ClusterQueue has stopped borrowing."""
    rows = []
    for budget in budgets:
        spec, status = budget.get("spec") or {}, budget.get("status") or {}
        crossed = set(status.get("crossed") or [])
        conds = {c.get("type"): c for c in status.get("conditions") or []}
        rows.append({
            "name": (budget.get("metadata") or {}).get("name", ""),
            "team": spec.get("team", ""),
            "period": spec.get("period", "monthly"),
            "periodStart": status.get("periodStart", ""),
            "limit": _limit(spec, currency),
            "gpuHours": round(float(status.get("gpuHours") or 0), 3),
            "cost": status.get("cost") or None,
            "percent": round(float(status.get("percent") or 0), 1),
            "thresholds": [{"percent": t, "crossed": t in crossed}
                           for t in sorted(spec.get("thresholds") or [50, 80, 100])],
            "state": budget_state(budget),
            "message": "; ".join(str(c.get("message", "")) for c in conds.values()
                                 if c.get("status") != "True"),
            "borrowingStopped": status.get("borrowingStopped") or "",
        })
    return sorted(rows, key=lambda r: (r["team"], r["name"]))
