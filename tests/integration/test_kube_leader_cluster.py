"""Leader election on a real Lease: one of two candidates leads and the other waits; a
released lease passes at once; a lease whose holder died is taken after its duration."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from lightkube import Client
from lightkube.models.coordination_v1 import LeaseSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.coordination_v1 import Lease
from lightkube.types import PatchType

from quarterdeck.kube.leader import LeaderElector
from quarterdeck.kube.wait import wait_for

pytestmark = pytest.mark.integration

FAST = {"lease_duration": 3.0, "renew_deadline": 2.0, "retry_period": 0.25}


@dataclass
class Candidate:
    elector: LeaderElector
    stop: threading.Event = field(default_factory=threading.Event)
    log: list[str] = field(default_factory=list)
    thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(
            target=self.elector.run,
            args=(
                lambda: self.log.append("started"),
                lambda: self.log.append("stopped"),
                self.stop,
            ),
        )
        self.thread.start()

    def halt(self) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(30)
            assert not self.thread.is_alive()


@pytest.fixture
def candidates(kube: Client, namespace: str) -> Iterator[list[Candidate]]:
    made = [
        Candidate(LeaderElector(kube, namespace, "operator", identity, **FAST))
        for identity in ("a", "b")
    ]
    yield made
    for candidate in made:
        candidate.halt()


def _holder(kube: Client, namespace: str) -> str | None:
    lease = kube.get(Lease, "operator", namespace=namespace)
    return lease.spec.holderIdentity if lease.spec else None


def test_one_leads_the_other_waits_and_takes_over_at_once_on_release(
    kube: Client, namespace: str, candidates: list[Candidate]
) -> None:
    a, b = candidates
    a.start()
    wait_for(lambda: a.elector.is_leader and a.log == ["started"], "a to lead")
    b.start()
    wait_for(lambda: b.elector.attempts == 1, "b's first attempt")
    # b learns of a's renewals from its watch on the Lease, not by asking again: several
    # renewals pass while b makes no second attempt (the lease never stands still)
    seen: set[str] = set()

    def renewals_seen() -> bool:
        observed = b.elector.observed
        if observed is not None and observed.holder == "a":
            seen.add(observed.renew_time)
        return len(seen) >= 4

    wait_for(renewals_seen, "b to see a's renewals", 30, 0.05)
    assert b.elector.attempts == 1
    assert not b.elector.is_leader and b.log == []
    assert _holder(kube, namespace) == "a"

    a.halt()  # as on SIGTERM: stop leading and release the lease
    assert a.log == ["started", "stopped"]
    # released, not expired: b takes it on its next retry, well within one lease duration;
    # the lease's own record shows it was handed over, not waited out
    wait_for(lambda: b.elector.is_leader, "b to lead")
    lease = kube.get(Lease, "operator", namespace=namespace)
    assert lease.spec is not None and lease.spec.holderIdentity == "b"
    assert lease.spec.leaseTransitions == 1
    assert b.log == ["started"]


def test_a_lease_whose_holder_died_is_taken_after_the_lease_duration(
    kube: Client, namespace: str, candidates: list[Candidate]
) -> None:
    now = datetime.now(UTC)
    kube.create(
        Lease(
            metadata=ObjectMeta(name="operator", namespace=namespace),
            spec=LeaseSpec(
                holderIdentity="ghost",
                leaseDurationSeconds=3,
                acquireTime=now,
                renewTime=now,
                leaseTransitions=4,
            ),
        )
    )
    a, _ = candidates
    a.start()
    first = wait_for(lambda: a.elector.observed, "a's first look")
    assert first.holder == "ghost"
    wait_for(lambda: a.elector.is_leader, "a to take the stale lease", 30)
    lease = kube.get(Lease, "operator", namespace=namespace)
    assert lease.spec is not None
    assert lease.spec.holderIdentity == "a" and lease.spec.leaseTransitions == 5
    # the ghost's record stood still for a whole lease duration on a's own clock first
    assert a.elector.acquired_at - first.seen_at >= FAST["lease_duration"]


def test_a_leader_that_cannot_renew_steps_down(
    kube: Client, namespace: str, candidates: list[Candidate]
) -> None:
    a, _ = candidates
    a.start()
    wait_for(lambda: a.elector.is_leader, "a to lead")
    # someone else (an operator by hand, another version) takes the lease: a's renewals
    # fail from now on, and it must stop leading within its renew deadline
    # an unconditional merge patch, as `kubectl patch` would: a conditional replace would
    # race a's own renewals and lose with 409 Conflict whenever a renews in between
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    takeover = {"spec": {"holderIdentity": "intruder", "renewTime": now}}
    kube.patch(Lease, "operator", takeover, namespace=namespace, patch_type=PatchType.MERGE)
    wait_for(lambda: a.log == ["started", "stopped"], "a to step down", 30)
    assert not a.elector.is_leader
    assert _holder(kube, namespace) == "intruder"  # a does not clear what is not its own
