"""One scheduling cycle: `cycle(snapshot, placer) -> Decisions`, pure.

Each ClusterQueue orders its pending workloads by priority, then creation time. The
cycle repeatedly takes the best head over all queues (lowest fair share, then not
borrowing, then priority, then age), assigns flavors, and admits it, preempts for it,
or leaves it pending with the reason. Unlike Kueue, which admits at most one head per
queue per cycle, a cycle here goes on until every queue is drained or blocked, which is
what makes replaying thousands of workloads cheap. StrictFIFO stops a queue at its
first workload that is not admitted; BestEffortFIFO moves on to the next.

Preemption follows Kueue's scheduler. A victim keeps its quota and nodes until its pods
stop (a later cycle sees it gone), and the preemptor claims its own quota on top, so no
head later in the cycle takes the room being freed. A victim is marked evicting: any
preemptor takes evicting workloads first and does not evict them again, so a preemptor
still waiting in the next cycle finds the victims it already has. A head that fitted
when the cycle began but lost the room to heads before it waits for the next cycle
instead of evicting ("no longer fits after processing another workload"), and one
whose victims another preemptor already took in this cycle waits as well.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Mapping
from dataclasses import replace

from quarterdeck.queueing.decisions import Admit, Decisions, Pending, PendingReason, Preempt
from quarterdeck.queueing.fairshare import dominant_share
from quarterdeck.queueing.flavors import (
    FlavorAssignment,
    Mode,
    PodSetChoice,
    PreemptionOracle,
    assign,
)
from quarterdeck.queueing.model import (
    AdmittedWorkload,
    ClusterQueue,
    PodSetAdmission,
    Shape,
    Snapshot,
    Workload,
    in_queue_order,
)
from quarterdeck.queueing.nodes import NodeView, Placer
from quarterdeck.queueing.preemption import Preemptions, find_victims
from quarterdeck.queueing.quota import QuotaState

CLUSTER_QUEUE_STOPPED = "ClusterQueueStopped"


def cycle(snapshot: Snapshot, placer: Placer | None = None) -> Decisions:
    """Decide admissions, preemptions and pending reasons for `snapshot`.

    With a `placer`, a workload is admitted only when every pod set is placed on nodes
    of its flavors (the admission carries pods per node); without one, on quota alone.
    """
    return _Cycle(snapshot, placer).run()


class _Cycle:
    def __init__(self, snapshot: Snapshot, placer: Placer | None) -> None:
        self.snap = snapshot
        self.queues = snapshot.cluster_queues
        self.quota = QuotaState(self.queues, snapshot.cohorts)
        self.placement = placer.start(snapshot.nodes, snapshot.admitted) if placer else None
        self.admitted_by_cq: dict[str, list[AdmittedWorkload]] = {n: [] for n in self.queues}
        for adm in snapshot.admitted:
            name = adm.workload.cluster_queue
            if name in self.queues:
                self.quota.add(name, adm.usage())
                self.admitted_by_cq[name].append(adm)
        self.admits: list[Admit] = []
        self.preempts: list[Preempt] = []
        self.pending: list[Pending] = []
        # Within a cycle room only shrinks (victims hold theirs until they stop). So a
        # workload shaped like one that failed (same queue, pod sets, priority) fails
        # the same way: remember (reason, message).
        self.failed: dict[tuple[str, Shape, int], tuple[PendingReason, str]] = {}
        self.evicted: set[str] = set()  # victims of this cycle (keys)
        # Quota and nodes as the cycle began, taken before the first reservation.
        self.start: tuple[QuotaState, NodeView | None] | None = None

    def run(self) -> Decisions:
        self._drain_stopped()
        waiting = self._queue_up()
        heap: list[tuple[tuple[float, bool, int, float, str], str]] = []
        for name, queue in waiting.items():
            if queue:
                heap.append((self._rank(name, queue[0]), name))
        heapq.heapify(heap)
        while heap:
            _, name = heapq.heappop(heap)
            queue = waiting[name]
            head = queue.popleft()
            if (
                not self._attempt(head, self.queues[name])
                and self.queues[name].strategy == "StrictFIFO"
            ):
                for wl in queue:
                    msg = f"waiting behind {head.key} at the head of StrictFIFO ClusterQueue {name}"
                    self.pending.append(Pending(wl, "Blocked", msg))
                queue.clear()
            best_effort = self.queues[name].strategy == "BestEffortFIFO"
            while best_effort and queue and (known := self._known_failure(queue[0])):
                self.pending.append(Pending(queue.popleft(), *known, deduced=True))
            if queue:
                heapq.heappush(heap, (self._rank(name, queue[0]), name))
        return Decisions(tuple(self.admits), tuple(self.preempts), tuple(self.pending))

    def _drain_stopped(self) -> None:
        for name, cq in self.queues.items():
            if cq.stop_policy != "HoldAndDrain":
                continue
            for adm in self.admitted_by_cq[name]:
                self._evict(adm, "", CLUSTER_QUEUE_STOPPED, f"ClusterQueue {name} is draining")
            self.admitted_by_cq[name] = []

    def _queue_up(self) -> dict[str, deque[Workload]]:
        """Per-queue FIFO of admissible-looking workloads; the rest pending with a reason."""
        closed = {name: self._closed(cq) for name, cq in self.queues.items()}
        by_queue: dict[str, list[Workload]] = {name: [] for name in self.queues}
        for wl in self.snap.pending:
            if wl.error:
                self.pending.append(Pending(wl, "Inadmissible", wl.error))
            elif wl.cluster_queue not in closed:
                msg = f"ClusterQueue {wl.cluster_queue} not found"
                self.pending.append(Pending(wl, "Inadmissible", msg))
            elif (why := closed[wl.cluster_queue]) is not None:
                self.pending.append(Pending(wl, *why))
            else:
                by_queue[wl.cluster_queue].append(wl)
        return {
            name: deque(in_queue_order(wls))
            for name, wls in by_queue.items()
            if wls
        }

    def _closed(self, cq: ClusterQueue) -> tuple[PendingReason, str] | None:
        """Why no workload of `cq` can be admitted now (the same for each of them), if so."""
        if (problem := self.quota.cohort_problem(cq.name)) is not None:
            return "Inadmissible", f"ClusterQueue {cq.name} is inactive: {problem}"
        if cq.inactive is not None:
            return "Inadmissible", f"ClusterQueue {cq.name} is inactive: {cq.inactive}"
        flavors = {fq.flavor for g in cq.resource_groups for fq in g.flavors}
        if missing := sorted(flavors - set(self.snap.flavors)):
            flavor = missing[0]
            return "Inadmissible", f"ClusterQueue {cq.name} is inactive: flavor {flavor} not found"
        if cq.stop_policy != "None":
            return "Stopped", f"ClusterQueue {cq.name} is stopped ({cq.stop_policy})"
        return None

    def _known_failure(self, wl: Workload) -> tuple[PendingReason, str] | None:
        return self.failed.get((wl.cluster_queue, wl.shape, wl.priority))

    def _remember_failure(self, wl: Workload, reason: PendingReason, message: str) -> None:
        self.failed[(wl.cluster_queue, wl.shape, wl.priority)] = (reason, message)
        self.pending.append(Pending(wl, reason, message))

    def _rank(self, name: str, head: Workload) -> tuple[float, bool, int, float, str]:
        """Order of heads across queues, estimated on quota alone.

        Heads known to fail go first: they change nothing, and are cheap to settle.
        """
        if self._known_failure(head) is not None:
            return (-math.inf, False, 0, 0.0, head.key)
        estimate = assign(head, self.queues[name], self.snap.flavors, self.quota)
        share = (
            dominant_share(self.quota, name, estimate.usage()) if self.snap.fair_sharing else 0.0
        )
        return (share, estimate.borrows, -head.priority, head.created, head.key)

    def _attempt(self, wl: Workload, cq: ClusterQueue) -> bool:
        """Admit, preempt for, or leave `wl` pending; True only when admitted."""
        known = self._known_failure(wl)
        if known is not None:
            self.pending.append(Pending(wl, *known, deduced=True))
            return False
        got = assign(wl, cq, self.snap.flavors, self.quota, self.placement, self._oracle(wl, cq))
        if got.mode == Mode.FIT:
            self._admit(wl, cq, got, tuple(c.nodes for c in got.pod_sets), got.borrows)
            return True
        if got.mode == Mode.NO_FIT:
            partial = self._admit_partially(wl, cq)
            if partial is True:
                return True
            never = got.never and partial is None  # a smaller gang might fit later
            self._remember_failure(wl, "Inadmissible" if never else "Pending", got.message)
            return False
        if self._fitted_at_start(wl, cq):
            why = "it fitted as this pass began; heads before it took the room"
            return self._wait(wl, cq, got, why)
        found = self._victims(wl, cq, got)
        if found is None:
            if self._admit_partially(wl, cq) is True:
                return True
            return self._wait(wl, cq, got, "preemption cannot make room")
        taken = [k for v in found.victims if (k := v.admitted.workload.key) in self.evicted]
        if taken:
            why = f"its victims are taken in this pass: {', '.join(taken)}"
            return self._wait(wl, cq, got, why)
        for victim in found.victims:
            verb = "reclaim quota" if victim.admitted.workload.cluster_queue != cq.name else "fit"
            msg = f"preempted by {wl.key} (priority {wl.priority}) to {verb} in {cq.name}"
            self._evict(victim.admitted, wl.key, victim.reason, msg)
        # Claim the preemptor's quota on top of its victims' (they hold theirs until they
        # stop), so later heads cannot take the room; on nodes the victims still hold it.
        self._claim()
        self.quota.add(wl.cluster_queue, got.usage())
        keys = ", ".join(v.admitted.workload.key for v in found.victims)
        msg = f"waiting for {len(found.victims)} preempted workload(s) to stop: {keys}"
        self.pending.append(Pending(wl, "Preempting", msg, reserved=got.usage()))
        return False

    def _wait(self, wl: Workload, cq: ClusterQueue, got: FlavorAssignment, why: str) -> bool:
        """Leave `wl` pending, holding the unused part of its queue's nominal quota it needs.

        That room is its own: whoever holds it now (victims stopping, borrowers) gives it
        back, and lower-priority work admitted into it meanwhile would only be evicted for
        `wl` once the rest is free. Kueue holds it only when the queue cannot always
        reclaim; holding it always trades a moment of idle quota for fewer evictions.
        """
        quotas = self.quota.quotas[cq.name]
        hold = {
            fr: min(v, quotas[fr].nominal - self.quota.used(cq.name, fr))
            for fr, v in got.usage().items()
            if fr in quotas
        }
        hold = {fr: v for fr, v in hold.items() if v > 0}
        if hold:
            self._claim()
            self.quota.add(cq.name, hold)
        self._remember_failure(wl, "Pending", f"{got.message}; {why}")
        return False

    def _fitted_at_start(self, wl: Workload, cq: ClusterQueue) -> bool:
        """Whether `wl` would have fitted without preemption as the cycle began."""
        if self.start is None:
            return False
        quota, nodes = self.start
        return assign(wl, cq, self.snap.flavors, quota, nodes).mode == Mode.FIT

    def _claim(self) -> None:
        """Keep the state the cycle began with before its first reservation."""
        if self.start is None:
            view = self.placement
            self.start = (self.quota.copy(), view.copy() if view is not None else None)

    def _oracle(self, wl: Workload, cq: ClusterQueue) -> PreemptionOracle:
        def can_preempt(choice: PodSetChoice) -> bool:
            alone = replace(wl, pod_sets=(choice.pod_set,))
            trial = FlavorAssignment(Mode.PREEMPT, [choice])
            return self._victims(alone, cq, trial) is not None

        return can_preempt

    def _victims(self, wl: Workload, cq: ClusterQueue, got: FlavorAssignment) -> Preemptions | None:
        return find_victims(
            wl,
            cq,
            got,
            self.quota,
            self.placement,
            self.admitted_by_cq,
            self.snap.flavors,
            self.snap.preemption_strategies if self.snap.fair_sharing else None,
        )

    def _admit_partially(self, wl: Workload, cq: ClusterQueue) -> bool | None:
        """Admit with fewer pods (down to each pod set's minCount) if that fits now.

        As Kueue's partial admission: counts shrink together between count and
        minCount; a binary search finds the largest that fits without preemption.
        True: admitted; False: not now; None: not even the minimum could ever fit
        (or the workload has no minCount).
        """
        span = max((ps.count - ps.min_count for ps in wl.pod_sets if ps.min_count), default=0)
        if span <= 0:
            return None

        def shrunk(step: int) -> Workload:
            sets = tuple(
                replace(ps, count=ps.min_count + (ps.count - ps.min_count) * step // span)
                if ps.min_count
                else ps
                for ps in wl.pod_sets
            )
            return replace(wl, pod_sets=sets)

        smallest = assign(shrunk(0), cq, self.snap.flavors, self.quota, self.placement)
        if smallest.mode != Mode.FIT:
            return None if smallest.never else False
        best, low, high = smallest, 1, span - 1  # step span is the full count: no fit
        while low <= high:
            step = (low + high) // 2
            got = assign(shrunk(step), cq, self.snap.flavors, self.quota, self.placement)
            if got.mode == Mode.FIT:
                best, low = got, step + 1
            else:
                high = step - 1
        self._admit(wl, cq, best, tuple(c.nodes for c in best.pod_sets), best.borrows)
        return True

    def _admit(
        self,
        wl: Workload,
        cq: ClusterQueue,
        got: FlavorAssignment,
        nodes: tuple[Mapping[str, int] | None, ...],
        borrows: bool,
    ) -> None:
        self._reserve(wl, got, nodes)
        view = self.placement
        pod_sets = tuple(
            PodSetAdmission(
                name=c.pod_set.name,
                count=c.pod_set.count,
                flavors=dict(c.flavors),
                usage=c.pod_set.total(),
                nodes=n,
                devices=view.devices(c.pod_set) if view is not None and n is not None else None,
            )
            for c, n in zip(got.pod_sets, nodes, strict=True)
        )
        notes = (
            [view.explain(c.pod_set) for c, n in zip(got.pod_sets, nodes, strict=True) if n]
            if view is not None
            else []
        )
        checks = cq.checks_for(f for ps in pod_sets for f in ps.flavors.values())
        told = "; ".join(n for n in notes if n)
        self.admits.append(Admit(wl, pod_sets, borrows, told, checks))

    def _reserve(
        self, wl: Workload, got: FlavorAssignment, nodes: tuple[Mapping[str, int] | None, ...]
    ) -> None:
        self._claim()
        self.quota.add(wl.cluster_queue, got.usage())
        if self.placement is not None:
            for choice, placed in zip(got.pod_sets, nodes, strict=True):
                if placed is not None:
                    self.placement.bind(choice.pod_set, placed)

    def _evict(self, adm: AdmittedWorkload, preemptor: str, reason: str, message: str) -> None:
        """Mark `adm` evicting; it keeps its quota and nodes until its pods stop."""
        self.evicted.add(adm.workload.key)
        if adm.evicting:
            return  # evicted by an earlier cycle: nothing new to carry out
        name = adm.workload.cluster_queue
        marked = replace(adm, evicting=True)
        self.admitted_by_cq[name] = [marked if a is adm else a for a in self.admitted_by_cq[name]]
        self.preempts.append(Preempt(adm, preemptor, reason, message))
