"""OpenCost's `/allocation/compute`: its query parameters and response shape. Pure.

Parameters as OpenCost reads them: `window` (required), `aggregate` (default
`namespace`; `label:team`, `namespace,label:team`, ...), `step` (a duration; default the
whole window), `accumulate` (`true`: one set for the window). The response is
`{"code": 200, "status": "success", "data": [ {name: allocation, ...}, ... ]}` with
OpenCost's field names for what we have (cpuCoreHours, gpuHours, gpuCost, ramByteHours,
totalCost, ...) plus GPU fields OpenCost lacks: gpuHoursUsed, gpuHoursIdle,
gpuHoursUnmeasured, gpuIdleCost, gpuUtilization, migInstanceHours, unpriced. Bad input
is a 400 whose message names the parameter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

from quarterdeck.showback.account import (
    AggregateError,
    Allocation,
    account,
    accumulate,
    parse_aggregate,
    round_hours,
)
from quarterdeck.showback.prices import Prices
from quarterdeck.showback.usage import UsageRecord
from quarterdeck.showback.window import WindowError, duration, parse, steps


def _money(value: Decimal | None) -> float | None:
    return None if value is None else float(round(value, 9))


def allocation_json(a: Allocation) -> dict[str, Any]:
    start, end = a.window.iso()
    hours = a.window.seconds / 3600
    return {
        "name": a.name,
        "properties": {k.replace("label:", "labels."): v for k, v in a.properties.items()},
        "window": {"start": start, "end": end},
        "start": start,
        "end": end,
        "minutes": round(a.window.seconds / 60, 6),
        "cpuCores": round_hours(a.cpu_core_hours / hours) if hours else 0.0,
        "cpuCoreHours": round_hours(a.cpu_core_hours),
        "cpuCost": _money(a.cpu_cost),
        "gpuCount": round_hours(a.gpu_hours / hours) if hours else 0.0,
        "gpuHours": round_hours(a.gpu_hours),
        "gpuCost": _money(a.gpu_cost),
        "ramBytes": round_hours(a.ram_byte_hours / hours) if hours else 0.0,
        "ramByteHours": round_hours(a.ram_byte_hours),
        "ramCost": _money(a.ram_cost),
        "totalCost": _money(a.total_cost),
        # ours: what OpenCost does not have
        "gpuHoursUsed": round_hours(a.gpu_hours_used),
        "gpuHoursIdle": round_hours(a.gpu_hours_idle),
        "gpuHoursUnmeasured": round_hours(a.gpu_hours_unmeasured),
        "gpuIdleCost": _money(a.gpu_idle_cost),
        "gpuUtilization": None if a.gpu_utilisation is None else round(a.gpu_utilisation, 9),
        "migInstanceHours": {p: round_hours(h) for p, h in sorted(a.mig_instance_hours.items())},
        "unpriced": list(a.unpriced),
        "pods": a.pods,
    }


def _one(params: Mapping[str, Sequence[str]], key: str) -> str | None:
    values = params.get(key)
    return values[-1] if values else None


def compute(
    query: str, records: Sequence[UsageRecord], prices: Prices, now: float, warning: str = ""
) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) for `/allocation/compute?{query}`."""
    params = parse_qs(query, keep_blank_values=True)
    try:
        text = _one(params, "window")
        if text is None:
            raise WindowError("window: required (e.g. window=7d)")
        window = parse(text, now)
        aggregate = parse_aggregate(_one(params, "aggregate") or "namespace")
        step_text = _one(params, "step")
        step = duration(step_text, "step") if step_text else None
        acc = (_one(params, "accumulate") or "false").lower()
        if acc not in ("true", "false"):
            raise WindowError(f"accumulate: {acc!r} must be true or false")
    except (WindowError, AggregateError) as err:
        return 400, {"code": 400, "status": "error", "message": str(err)}
    sets = [account(records, prices, s, aggregate, now) for s in steps(window, step)]
    if acc == "true":
        sets = [accumulate(sets, window)]
    body: dict[str, Any] = {
        "code": 200,
        "status": "success",
        "currency": prices.currency,
        "data": [
            {name: allocation_json(a) for name, a in sorted(s.allocations.items())} for s in sets
        ],
    }
    if warning:
        body["warning"] = warning
    return 200, body
