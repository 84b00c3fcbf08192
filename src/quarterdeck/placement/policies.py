"""Scorers by name, as the CLI and the simulator spell them."""

from __future__ import annotations

from collections.abc import Callable

from quarterdeck.placement.fgd import FragmentationGradient
from quarterdeck.placement.fragmentation import TargetWorkload, capacity_fragmentation
from quarterdeck.placement.model import PlacementError
from quarterdeck.placement.scorers import (
    BestFit,
    DotProduct,
    GpuClustering,
    GpuPacking,
    RandomFit,
    Scorer,
)

_FACTORIES: dict[str, Callable[[TargetWorkload | None], Scorer]] = {
    "random": lambda _: RandomFit(),
    "dotprod": lambda _: DotProduct(),
    "clustering": lambda _: GpuClustering(),
    "packing": lambda _: GpuPacking(),
    "bestfit": lambda _: BestFit(),
    "fgd": lambda w: FragmentationGradient(_needs(w, "fgd")),
    "fgd-exact": lambda w: FragmentationGradient(_needs(w, "fgd-exact"), exact=True),
    "fgd-bf": lambda w: FragmentationGradient(_needs(w, "fgd-bf"), "bestfit"),
    "fgd-cap": lambda w: FragmentationGradient(
        _needs(w, "fgd-cap"), measure=capacity_fragmentation
    ),
    "fgd-cf": lambda w: FragmentationGradient(_needs(w, "fgd-cf"), "capacity"),
}

POLICIES: tuple[str, ...] = tuple(_FACTORIES)
TARGETED: frozenset[str] = frozenset(p for p in POLICIES if p.startswith("fgd"))
"""Policies that score against a target workload (FGD and its variants)."""


def _needs(workload: TargetWorkload | None, name: str) -> TargetWorkload:
    if workload is None:
        raise PlacementError(f"policy {name!r} needs a target workload")
    return workload


def scorer_named(name: str, workload: TargetWorkload | None = None) -> Scorer:
    """A fresh scorer for policy `name`; FGD-class policies need the target `workload`."""
    factory = _FACTORIES.get(name)
    if factory is None:
        raise PlacementError(f"unknown policy {name!r}; choose from {', '.join(POLICIES)}")
    return factory(workload)
