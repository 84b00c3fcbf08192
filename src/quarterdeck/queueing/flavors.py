"""Flavor assignment: for each pod set and resource group, the first flavor that fits.

Flavors are tried in the ClusterQueue's order. `flavorFungibility` says whether to stop
at a flavor that fits only by borrowing (`whenCanBorrow`) or only after preemption
(`whenCanPreempt`), or to look further for one that fits outright. All pod sets of a
workload are assigned together (their usage accumulates), so a gang fits whole or not.
With a `NodeView`, a flavor only fits if the pod set can also be placed on its nodes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum

from quarterdeck.queueing.model import ClusterQueue, Flavor, FlavorResource, PodSet, Workload, fmt
from quarterdeck.queueing.nodes import NodeView
from quarterdeck.queueing.quota import QuotaState


class Mode(IntEnum):
    """How well a flavor fits; larger is better."""

    NO_FIT = 0
    PREEMPT = 1
    FIT = 2


@dataclass(slots=True)
class PodSetChoice:
    pod_set: PodSet
    flavors: dict[str, str] = field(default_factory=dict)
    nodes: Mapping[str, int] | None = None

    def usage(self) -> dict[FlavorResource, int]:
        return {(self.flavors[r], r): v for r, v in self.pod_set.total().items()}


@dataclass(slots=True)
class FlavorAssignment:
    """The outcome for a whole workload: the worst mode over its pod sets."""

    mode: Mode
    pod_sets: list[PodSetChoice]
    borrows: bool = False
    never: bool = False  # no flavor could ever hold it: Inadmissible, not just Pending
    message: str = ""

    def usage(self) -> dict[FlavorResource, int]:
        out: dict[FlavorResource, int] = {}
        for choice in self.pod_sets:
            for fr, v in choice.usage().items():
                out[fr] = out.get(fr, 0) + v
        return out


@dataclass(slots=True)
class _Try:
    mode: Mode
    borrows: bool = False
    never: bool = False
    message: str = ""
    nodes: Mapping[str, int] | None = None


PreemptionOracle = Callable[["PodSetChoice"], bool]
"""Whether evicting candidates would make room for one pod set with these flavors."""


def assign(
    wl: Workload,
    cq: ClusterQueue,
    flavors: Mapping[str, Flavor],
    quota: QuotaState,
    placement: NodeView | None = None,
    can_preempt: PreemptionOracle | None = None,
) -> FlavorAssignment:
    """Choose flavors for every pod set of `wl` against the current quota (and nodes).

    With `can_preempt`, a flavor that fits only after preemption counts as no fit when
    no candidates would make room (Kueue simulates preemption the same way), so the
    search goes on to the next flavor even under `whenCanPreempt: MayStopSearch`.
    """
    acc: dict[FlavorResource, int] = {}
    choices: list[PodSetChoice] = []
    mode, borrows = Mode.FIT, False
    scratch = placement
    prefix_names = len(wl.pod_sets) > 1
    notes: list[str] = []  # why pod sets only fit after preemption
    for index, ps in enumerate(wl.pod_sets):
        if placement is not None and index == 1:
            scratch = placement.copy()  # later pod sets see the earlier ones' pods
            for prev in choices:
                if prev.nodes is not None:
                    scratch.bind(prev.pod_set, prev.nodes)
        choice, result = _assign_pod_set(ps, cq, flavors, quota, acc, scratch, can_preempt)
        if result.mode == Mode.NO_FIT:
            where = f"pod set {ps.name}: " if prefix_names else ""
            return FlavorAssignment(
                Mode.NO_FIT, [], never=result.never, message=where + result.message
            )
        if scratch is not None and index >= 1 and choice.nodes is not None:
            scratch.bind(ps, choice.nodes)
        for fr, v in choice.usage().items():
            acc[fr] = acc.get(fr, 0) + v
        choices.append(choice)
        mode, borrows = min(mode, result.mode), borrows or result.borrows
        if result.mode == Mode.PREEMPT:
            notes.append((f"pod set {ps.name}: " if prefix_names else "") + result.message)
    return FlavorAssignment(mode, choices, borrows=borrows, message=". ".join(notes))


def _assign_pod_set(
    ps: PodSet,
    cq: ClusterQueue,
    flavors: Mapping[str, Flavor],
    quota: QuotaState,
    acc: Mapping[FlavorResource, int],
    placement: NodeView | None,
    can_preempt: PreemptionOracle | None = None,
) -> tuple[PodSetChoice, _Try]:
    requested = ps.total()
    covered = {r for g in cq.resource_groups for r in g.covered}
    missing = sorted(set(requested) - covered)
    if missing:
        msg = f"resource {missing[0]} is not covered by ClusterQueue {cq.name}"
        return PodSetChoice(ps), _Try(Mode.NO_FIT, never=True, message=msg)
    groups = [(g, [r for r in g.covered if r in requested]) for g in cq.resource_groups]
    groups = [(g, res) for g, res in groups if res]
    choice = PodSetChoice(ps)
    total = _Try(Mode.FIT)
    for gi, (group, resources) in enumerate(groups):
        last = gi == len(groups) - 1
        best: tuple[_Try, str] | None = None
        messages: list[str] = []
        all_never = True
        for fq in group.flavors:
            attempt = _try_flavor(ps, cq, fq.flavor, resources, flavors, quota, acc)
            if attempt.mode == Mode.FIT and placement is not None and last:
                picked = [*{f: None for f in choice.flavors.values()}, fq.flavor]
                nodes, why = placement.place([flavors[f] for f in picked], ps)
                if nodes is None:
                    attempt = _Try(Mode.NO_FIT, message=f"flavor {fq.flavor} has quota but {why}")
                attempt.nodes = nodes
            if attempt.mode == Mode.PREEMPT and can_preempt is not None and last:
                trial = PodSetChoice(ps, {**choice.flavors, **dict.fromkeys(resources, fq.flavor)})
                if not can_preempt(trial):
                    why = f"{attempt.message}; preemption cannot make room"
                    attempt = _Try(Mode.NO_FIT, message=why)
            all_never = all_never and attempt.never
            if attempt.mode == Mode.NO_FIT:
                messages.append(attempt.message)
                continue
            if best is None or (attempt.mode, not attempt.borrows) > (
                best[0].mode,
                not best[0].borrows,
            ):
                best = (attempt, fq.flavor)
            if attempt.mode == Mode.FIT and (not attempt.borrows or cq.when_can_borrow == "Borrow"):
                break
            if attempt.mode == Mode.PREEMPT and cq.when_can_preempt == "Preempt":
                break
            messages.append(attempt.message)
        if best is None:
            text = ". ".join(m for m in messages if m)
            return choice, _Try(Mode.NO_FIT, never=all_never, message=text)
        got, flavor = best
        for r in resources:
            choice.flavors[r] = flavor
        if last:
            choice.nodes = got.nodes
        total.mode = min(total.mode, got.mode)
        total.borrows = total.borrows or got.borrows
        if got.mode == Mode.PREEMPT:
            total.message = got.message
    return choice, total


def _try_flavor(
    ps: PodSet,
    cq: ClusterQueue,
    name: str,
    resources: list[str],
    flavors: Mapping[str, Flavor],
    quota: QuotaState,
    acc: Mapping[FlavorResource, int],
) -> _Try:
    flavor = flavors.get(name)
    if flavor is None:
        return _Try(Mode.NO_FIT, never=True, message=f"flavor {name} not found")
    mismatch = _mismatch(flavor, ps)
    if mismatch:
        return _Try(Mode.NO_FIT, never=True, message=f"flavor {name}: {mismatch}")
    requested = ps.total()
    result = _Try(Mode.FIT)
    messages: list[str] = []
    can_preempt = cq.preemption.within_cluster_queue != "Never" or (
        cq.cohort is not None and cq.preemption.reclaim_within_cohort != "Never"
    )
    for res in resources:
        fr = (name, res)
        need = requested[res] + acc.get(fr, 0)
        room = quota.headroom(cq.name, fr)
        if need <= room.free:
            result.borrows = result.borrows or quota.borrows(cq.name, fr, need)
            continue
        cap = quota.capacity(cq.name, fr)
        if need > cap:
            result.mode, result.never = Mode.NO_FIT, True
            messages.append(
                f"needs {fmt(need, res)} {res} of flavor {name} but ClusterQueue {cq.name} "
                f"can never hold more than {fmt(cap, res)}"
            )
            continue
        result.mode = min(result.mode, Mode.PREEMPT if can_preempt else Mode.NO_FIT)
        messages.append(_shortfall(cq, name, res, need, room.free, room.limit))
    result.message = "; ".join(messages)
    return result


def _shortfall(cq: ClusterQueue, flavor: str, res: str, need: int, free: int, limit: str) -> str:
    where = f"in cohort {cq.cohort}" if cq.cohort else f"in ClusterQueue {cq.name}"
    why = {
        "nominal": "nominal quota exhausted",
        "borrowing": "borrowing limit reached",
        "cohort": "cohort quota exhausted",
    }[limit]
    return f"needs {fmt(need, res)} {res} of flavor {flavor} {where}; {fmt(free, res)} free; {why}"


def _mismatch(flavor: Flavor, ps: PodSet) -> str:
    """Why pods of `ps` could never run on nodes of `flavor` ("" when they could)."""
    for key, value in ps.node_selector.items():
        have = flavor.node_labels.get(key)
        if have is not None and have != value:
            return f"node selector {key}={value} conflicts with flavor label {key}={have}"
    tolerations = [*ps.tolerations, *flavor.tolerations]
    for taint in flavor.taints:
        if taint.effect != "PreferNoSchedule" and not any(t.tolerates(taint) for t in tolerations):
            return f"untolerated taint {taint.key}={taint.value or ''}:{taint.effect}"
    return ""
