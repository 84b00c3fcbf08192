"""Event aggregation decisions: repeats patch one Event, a hot object is rate-limited."""

from __future__ import annotations

from quarterdeck.kube.events import SPAM_BURST, Correlator, reference

APP = {
    "apiVersion": "delivery.quarterdeck.dev/v1alpha1",
    "kind": "Application",
    "metadata": {"name": "web", "namespace": "team-a", "uid": "u-1"},
}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_repeat_patches_the_same_event_with_a_growing_count() -> None:
    correlator = Correlator(FakeClock())
    ref = reference(APP)
    first = correlator.decide(ref, "Warning", "SyncFailed", "denied by guardrail")
    assert first.create and first.name.startswith("web.")
    repeats = [correlator.decide(ref, "Warning", "SyncFailed", "denied by guardrail")
               for _ in range(15)]  # fmt: skip
    assert {d.name for d in repeats} == {first.name}
    assert [d.count for d in repeats] == list(range(2, 17))
    assert not any(d.create for d in repeats)


def test_a_different_message_or_object_is_a_new_event() -> None:
    correlator = Correlator(FakeClock())
    ref = reference(APP)
    a = correlator.decide(ref, "Warning", "SyncFailed", "one")
    b = correlator.decide(ref, "Warning", "SyncFailed", "two")
    other = reference({**APP, "metadata": {**APP["metadata"], "name": "api", "uid": "u-2"}})
    c = correlator.decide(other, "Warning", "SyncFailed", "one")
    assert a.create and b.create and c.create
    assert len({a.name, b.name, c.name}) == 3


def test_one_object_is_rate_limited_after_a_burst_and_recovers() -> None:
    clock = FakeClock()
    correlator = Correlator(clock)
    ref = reference(APP)
    decisions = [correlator.decide(ref, "Normal", "Synced", f"rev {i}") for i in range(40)]
    assert sum(not d.skip for d in decisions) == SPAM_BURST
    other = reference({**APP, "metadata": {**APP["metadata"], "name": "api"}})
    assert not correlator.decide(other, "Normal", "Synced", "rev 0").skip  # per object
    clock.now += 300.0  # one token every five minutes
    assert not correlator.decide(ref, "Normal", "Synced", "rev 0").skip
    assert correlator.decide(ref, "Normal", "Synced", "rev 0").skip


def test_an_expired_event_starts_over_under_a_new_name() -> None:
    correlator = Correlator(FakeClock())
    ref = reference(APP)
    first = correlator.decide(ref, "Warning", "SyncFailed", "x")
    correlator.decide(ref, "Warning", "SyncFailed", "x")
    again = correlator.restart(ref, "Warning", "SyncFailed", "x")
    assert again.create and again.name != first.name
    assert correlator.decide(ref, "Warning", "SyncFailed", "x").count == 2
