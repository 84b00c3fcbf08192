"""The allocation API's cache of answers per state version, retention of UsageRecords,
and the operator's showback flags."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from quarterdeck.showback.cache import ResponseCache, cache_key
from quarterdeck.showback.claims import Claim
from quarterdeck.showback.controller import ShowbackState
from quarterdeck.showback.opencost import compute
from quarterdeck.showback.operator import ShowbackConfig, showback_config
from quarterdeck.showback.prices import GpuPrice, Prices
from quarterdeck.showback.records import expired
from quarterdeck.showback.usage import UsageRecord

T0 = 1_924_992_000.0  # 2031-01-01T00:00:00Z
H100 = "NVIDIA-H100-80GB-HBM3"
QUERY = "window=2031-01-01T00:00:00Z,2031-01-02T00:00:00Z&aggregate=label:team"


def _rec(uid: str, start: float, end: float | None, team: str = "a") -> UsageRecord:
    return UsageRecord(
        namespace="ns",
        pod=f"p-{uid}",
        uid=uid,
        claim=Claim(gpu_milli=1000),
        start=start,
        end=end,
        model=H100,
        labels=(("team", team),),
        util=((start, 50.0),),
    )


def _state(*records: UsageRecord, now: float = T0 + 86400) -> ShowbackState:
    state = ShowbackState(prices=Prices(gpus={H100: GpuPrice(Decimal("2"))}), now=now)
    state.records = {r.uid: r for r in records}
    state.version = 1
    return state


def test_an_answer_is_computed_once_per_version_and_equals_accounting() -> None:
    state = _state(_rec("1", T0, T0 + 3600))
    cache = ResponseCache()
    code, body, kind = cache.answer(QUERY, state)
    again = cache.answer("aggregate=label:team&" + QUERY.split("&")[0], state)  # same, reordered
    assert (code, kind) == (200, "application/json") and again[1] == body
    assert (cache.misses, cache.hits) == (1, 1)
    view = state.view()
    assert json.loads(body) == compute(QUERY, view.records, view.prices, view.now)[1]
    assert json.loads(body)["data"][0]["a"]["gpuHours"] == 1.0


def test_a_new_record_or_pass_invalidates_and_the_answer_follows() -> None:
    state = _state(_rec("1", T0, T0 + 3600))
    cache = ResponseCache()
    cache.answer(QUERY, state)
    with state.lock:  # what the controller does when it writes a record
        state.records["2"] = _rec("2", T0, T0 + 7200)
        state.version += 1
    _, body, _ = cache.answer(QUERY, state)
    assert json.loads(body)["data"][0]["a"]["gpuHours"] == 3.0 and cache.misses == 2
    open_record = _rec("3", T0, None, team="b")
    with state.lock:  # a later pass: the open record's hours grow with the pass's time
        state.records["3"], state.now = open_record, T0 + 3600
        state.version += 1
    _, body, _ = cache.answer("window=1h&aggregate=label:team", state)
    assert json.loads(body)["data"][0]["b"]["gpuHours"] == 1.0


def test_before_the_first_pass_the_api_says_so_and_keeps_nothing() -> None:
    state = replace(_state(), now=0.0)
    cache = ResponseCache()
    code, body, _ = cache.answer(QUERY, state)
    assert code == 503 and "no pass yet" in json.loads(body)["message"]
    assert cache.answer(QUERY, state)[0] == 503 and cache.misses == 2


def test_the_cache_keeps_at_most_its_size() -> None:
    state = _state(_rec("1", T0, T0 + 3600))
    cache = ResponseCache(size=2)
    for agg in ("namespace", "label:team", "queue"):
        cache.answer(f"window=1d&aggregate={agg}", state)
    cache.answer("window=1d&aggregate=namespace", state)  # dropped first: computed again
    assert cache.misses == 4 and cache_key("b=2&a=1") == cache_key("a=1&b=2")


def test_records_expire_after_retention_open_ones_never() -> None:
    old, recent, running = _rec("1", T0, T0 + 3600), _rec("2", T0, T0 + 80000), _rec("3", T0, None)
    gone = expired([old, recent, running], T0 + 86400 + 7200, 86400)
    assert gone == [old]


def test_the_operator_flags_are_checked_naming_the_flag(tmp_path: Path) -> None:
    config = showback_config("http://127.0.0.1:9090/", 2.0, "30d", tmp_path / "clock")
    assert config == ShowbackConfig("http://127.0.0.1:9090", 2.0, 30 * 86400.0, tmp_path / "clock")
    assert showback_config("", 15.0, "", None) == ShowbackConfig()
    for args, flag in (
        (("prom:9090", 15.0, "", None), "--prometheus-url"),
        (("", 0.0, "", None), "--showback-interval"),
        (("", 15.0, "7x", None), "--showback-retention"),
    ):
        with pytest.raises(ValueError, match=f"^{flag}"):
            showback_config(*args)  # type: ignore[arg-type]
