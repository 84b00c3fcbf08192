"""Who may write the Lease, and what they write: client-go's rules, without a cluster."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from lightkube.models.coordination_v1 import LeaseSpec

from quarterdeck.kube.leader import (
    LeaderElector,
    Observation,
    may_take,
    next_spec,
    stamp,
    wait_before_taking,
)

T0 = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
T1 = datetime(2026, 12, 1, 12, 0, 5, tzinfo=UTC)


def test_a_held_lease_is_taken_only_after_it_stood_still_for_the_lease_duration() -> None:
    held = Observation(holder="a", renew_time="t", transitions=0, seen_at=100.0)
    assert not may_take(held, "b", now=114.9, lease_duration=15.0)
    assert may_take(held, "b", now=115.0, lease_duration=15.0)
    assert may_take(held, "a", now=100.0, lease_duration=15.0)  # ours: renew
    released = Observation(holder="", renew_time="t", transitions=3, seen_at=100.0)
    assert may_take(released, "b", now=100.0, lease_duration=15.0)  # stepped down
    assert may_take(None, "b", now=0.0, lease_duration=15.0)  # no Lease yet


def test_renewing_keeps_the_acquire_time_and_taking_counts_a_transition() -> None:
    first = next_spec(None, "a", T0, 15.0)
    assert (first.holderIdentity, first.leaseTransitions, first.acquireTime) == ("a", 0, T0)
    renewed = next_spec(first, "a", T1, 15.0)
    assert renewed.acquireTime == T0 and renewed.renewTime == T1
    assert renewed.leaseTransitions == 0 and renewed.leaseDurationSeconds == 15
    taken = next_spec(renewed, "b", T1, 15.0)
    assert taken.holderIdentity == "b" and taken.acquireTime == T1
    assert taken.leaseTransitions == 1
    assert next_spec(LeaseSpec(), "c", T1, 15.0).leaseTransitions == 1


def test_durations_must_leave_the_leader_time_to_step_down() -> None:
    with pytest.raises(ValueError, match="lease duration > renew deadline"):
        LeaderElector(None, "ns", "lease", "a", lease_duration=10, renew_deadline=10)  # type: ignore[arg-type]


def test_a_standby_attempts_exactly_when_the_lease_it_saw_last_change_expires() -> None:
    held = Observation(holder="a", renew_time="t", transitions=0, seen_at=100.0)
    assert wait_before_taking(held, "b", now=104.0, lease_duration=15.0) == 11.0
    assert wait_before_taking(held, "b", now=120.0, lease_duration=15.0) == 0.0
    assert wait_before_taking(held, "a", now=104.0, lease_duration=15.0) == 0.0
    assert wait_before_taking(None, "b", now=0.0, lease_duration=15.0) == 0.0


def test_a_renew_time_read_from_a_watch_equals_the_same_time_read_as_a_model() -> None:
    # the watch brings "...Z" strings, lightkube datetimes: one renewal is one change
    assert stamp("2026-12-01T12:00:05.000000Z") == stamp(T1)
    assert stamp("2026-12-01T12:00:05.123456Z") != stamp(T1)
    assert stamp(None) == stamp("") == ""
