"""Accounting: GPU-hours allocated, used, idle and cost per group, over any window."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quarterdeck.api.showback import GpuPricing, PricingSpec
from quarterdeck.showback.account import (
    AggregateError,
    account,
    accumulate,
    parse_aggregate,
    round_hours,
)
from quarterdeck.showback.claims import Claim
from quarterdeck.showback.prices import GpuPrice, Prices, PricingError, from_pricing
from quarterdeck.showback.usage import UsageRecord
from quarterdeck.showback.window import Window, WindowError, parse, steps

H100 = "NVIDIA-H100-80GB-HBM3"
A100 = "NVIDIA-A100-SXM4-80GB"
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
HOUR = 3600.0
PRICES = Prices(
    gpus={
        H100: GpuPrice(Decimal("2.50")),
        A100: GpuPrice(Decimal("1.75"), {"3g.40gb": Decimal("0.80")}),
    },
    cpu_core_hour=Decimal("0.03"),
    memory_gib_hour=Decimal("0.005"),
)


def rec(pod: str, team: str, claim: Claim, start_h: float, end_h: float | None,
        util: float | None, model: str = H100, queue: str = "cq") -> UsageRecord:  # fmt: skip
    return UsageRecord(
        namespace=f"ns-{team}", pod=pod, claim=claim, start=T0 + start_h * HOUR,
        end=None if end_h is None else T0 + end_h * HOUR, model=model, queue=queue,
        labels=(("team", team),), util=((T0 + start_h * HOUR, util),),
    )  # fmt: skip


DAY = [
    rec("a-train", "a", Claim(gpu_milli=4000), 0, 2, 75),  # 8 GPU-h, 6 used, 2 idle
    rec("a-share", "a", Claim(gpu_milli=500), 1, 5, 40),  # 2 GPU-h, 0.8 used
    rec("b-mig", "b", Claim(mig_profile="3g.40gb"), 0, 7, 50, model=A100),  # 7 inst-h, 3 GPU-h
    rec("b-cpu", "b", Claim(cpu_milli=2000, memory_bytes=4 * 1024**3), 0, 10, None),
]


def test_a_hand_computed_day() -> None:
    out = account(DAY, PRICES, Window(T0, T0 + 24 * HOUR), ["label:team"], now=T0 + 24 * HOUR)
    a, b = out.allocations["a"], out.allocations["b"]
    assert round_hours(a.gpu_hours) == 10.0
    assert round_hours(a.gpu_hours_used) == 6.8
    assert round_hours(a.gpu_hours_idle) == 3.2
    assert a.gpu_cost == Decimal("25.00")  # 10 GPU-h x 2.50
    assert a.gpu_idle_cost == Decimal("8.00")  # 3.2 x 2.50
    assert round_hours(b.gpu_hours) == 3.0 and b.mig_instance_hours == {"3g.40gb": 7.0}
    assert b.gpu_cost == Decimal("5.60")  # 7 instance-hours x 0.80
    assert b.gpu_idle_cost == Decimal("2.80")
    assert b.cpu_cost == Decimal("0.60") and b.ram_cost == Decimal("0.200")  # 20 core-h, 40 GiB-h
    assert b.total_cost == Decimal("6.400")


def test_a_mig_profile_without_its_own_price_costs_its_slices() -> None:
    r = rec("m", "b", Claim(mig_profile="1g.10gb"), 0, 7, 100, model=A100)
    out = account([r], PRICES, Window(T0, T0 + 7 * HOUR), ["model"], now=T0 + 7 * HOUR)
    assert out.allocations[A100].gpu_cost == Decimal("1.75")  # 7 h x 1/7 of 1.75


def test_an_unpriced_model_is_reported_never_zero() -> None:
    r = rec("x", "a", Claim(gpu_milli=1000), 0, 1, 50, model="NVIDIA-L4")
    out = account([r, DAY[0]], PRICES, Window(T0, T0 + HOUR * 3), ["namespace"], T0 + 3 * HOUR)
    alloc = out.allocations["ns-a"]
    assert alloc.gpu_cost is None and alloc.total_cost is None
    assert alloc.unpriced == ("NVIDIA-L4",)
    assert out.total().unpriced == ("NVIDIA-L4",)


def test_running_records_count_until_now_and_windows_clip() -> None:
    r = rec("run", "a", Claim(gpu_milli=2000), 0, None, 0)
    out = account([r], PRICES, Window(T0 + HOUR, T0 + 10 * HOUR), ["pod"], now=T0 + 3 * HOUR)
    assert round_hours(out.allocations["run"].gpu_hours) == 4.0  # hours 1..3 x 2 GPUs
    assert round_hours(out.allocations["run"].gpu_hours_idle) == 4.0


def test_missing_label_is_unallocated() -> None:
    r = UsageRecord(namespace="n", pod="p", claim=Claim(gpu_milli=1000), start=T0, end=T0 + HOUR)
    out = account([r], PRICES, Window(T0, T0 + HOUR), ["label:team"], T0 + HOUR)
    assert list(out.allocations) == ["__unallocated__"]
    assert out.allocations["__unallocated__"].gpu_hours_unmeasured == 1.0


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("7d", T0 - 7 * 86400, T0),
        ("24h", T0 - 86400, T0),
        ("30m", T0 - 1800, T0),
        ("yesterday", T0 - 86400, T0),
        ("2026-01-01T00:00:00Z,2026-01-02T00:00:00Z", T0, T0 + 86400),
        (f"{int(T0)},{int(T0) + 60}", T0, T0 + 60),
    ],
)
def test_windows_as_opencost_reads_them(text: str, start: float, end: float) -> None:
    assert parse(text, T0) == Window(start, end)


@pytest.mark.parametrize("bad", ["7x", "", "d7", "0d", "2026-01-02T00:00:00Z,2026-01-01T00:00:00Z"])
def test_bad_windows_are_refused_naming_the_field(bad: str) -> None:
    with pytest.raises(WindowError, match=r"^window: "):
        parse(bad, T0)


def test_bad_aggregate_names_the_field() -> None:
    assert parse_aggregate("namespace,team") == ("namespace", "label:team")
    with pytest.raises(AggregateError, match=r"^aggregate: 'colour'"):
        parse_aggregate("colour")


def test_pricing_objects_become_prices() -> None:
    spec = PricingSpec(gpus=[GpuPricing(model=H100, per_hour="2.5", mig={"1g.10gb": "0.4"})])
    assert from_pricing(spec).unit_price(H100, "1g.10gb") == Decimal("0.4")
    twice = PricingSpec(gpus=[GpuPricing(model=H100, per_hour="1")] * 2)
    with pytest.raises(PricingError, match=r"spec.gpus\[1\].model"):
        from_pricing(twice)


# --- properties ------------------------------------------------------------------------

claims = st.one_of(
    st.integers(1, 8).map(lambda n: Claim(gpu_milli=n * 1000)),
    st.integers(1, 999).map(lambda m: Claim(gpu_milli=m)),
    st.sampled_from(["1g.10gb", "3g.40gb", "7g.80gb"]).map(lambda p: Claim(mig_profile=p)),
    st.just(Claim(cpu_milli=500, memory_bytes=1024**3)),
)


@st.composite
def records(draw: st.DrawFn) -> UsageRecord:
    start = draw(st.integers(0, 48 * 60)) * 60.0
    length = draw(st.integers(1, 24 * 60)) * 60.0
    ended = draw(st.booleans())
    points = sorted(draw(st.lists(st.integers(0, int(length)), max_size=4)))
    util = tuple(
        (T0 + start + p, draw(st.one_of(st.none(), st.integers(0, 100).map(float)))) for p in points
    )
    return UsageRecord(
        namespace=draw(st.sampled_from(["a", "b", "c"])),
        pod=draw(st.text("abc", min_size=1, max_size=3)),
        claim=draw(claims),
        start=T0 + start,
        end=T0 + start + length if ended else None,
        model=draw(st.sampled_from([H100, A100, "NVIDIA-L4"])),
        queue=draw(st.sampled_from(["q1", "q2", ""])),
        labels=(("team", draw(st.sampled_from(["x", "y"]))),) if draw(st.booleans()) else (),
        util=util,
    )


AGGREGATES = st.sampled_from(["namespace", "label:team", "queue", "model", "pod", "queue,model"])
NOW = T0 + 80 * HOUR


@settings(max_examples=60, deadline=None)
@given(st.lists(records(), max_size=30), AGGREGATES)
def test_allocated_splits_into_used_idle_unmeasured(rs: list[UsageRecord], agg: str) -> None:
    out = account(rs, PRICES, Window(T0, NOW), parse_aggregate(agg), NOW)
    for a in out.allocations.values():
        parts = a.gpu_hours_used + a.gpu_hours_idle + a.gpu_hours_unmeasured
        assert a.gpu_hours == pytest.approx(parts, abs=1e-9)
        assert min(a.gpu_hours_used, a.gpu_hours_idle, a.gpu_hours_unmeasured) >= -1e-12
        assert (a.gpu_cost is None) == bool(a.unpriced)


@settings(max_examples=60, deadline=None)
@given(st.lists(records(), max_size=30), AGGREGATES, AGGREGATES)
def test_every_grouping_adds_up_to_the_same_total(rs: list[UsageRecord], a1: str, a2: str) -> None:
    w = Window(T0, NOW)
    t1 = account(rs, PRICES, w, parse_aggregate(a1), NOW).total()
    t2 = account(rs, PRICES, w, parse_aggregate(a2), NOW).total()
    assert t1.gpu_hours == pytest.approx(t2.gpu_hours, abs=1e-9)
    assert t1.gpu_hours_idle == pytest.approx(t2.gpu_hours_idle, abs=1e-9)
    assert t1.unpriced == t2.unpriced


@settings(max_examples=40, deadline=None)
@given(st.lists(records(), max_size=20), st.integers(1, 30).map(lambda m: m * 600.0))
def test_steps_accumulate_to_the_whole_window(rs: list[UsageRecord], step: float) -> None:
    w = Window(T0, NOW)
    whole = account(rs, PRICES, w, ["namespace"], NOW)
    parts = accumulate([account(rs, PRICES, s, ["namespace"], NOW) for s in steps(w, step)], w)
    assert set(whole.allocations) == set(parts.allocations)
    for name, a in whole.allocations.items():
        b = parts.allocations[name]
        assert a.gpu_hours == pytest.approx(b.gpu_hours, abs=1e-6)
        assert a.gpu_hours_used == pytest.approx(b.gpu_hours_used, abs=1e-6)
        if a.gpu_cost is not None and b.gpu_cost is not None:
            assert float(a.gpu_cost) == pytest.approx(float(b.gpu_cost), abs=1e-4)
        assert (a.gpu_cost is None) == (b.gpu_cost is None)


@settings(max_examples=40, deadline=None)
@given(st.lists(records(), max_size=20))
def test_nothing_outside_the_window_is_counted(rs: list[UsageRecord]) -> None:
    before = Window(T0 - 10 * HOUR, T0)
    assert account(rs, PRICES, before, ["namespace"], NOW).allocations == {}
