"""``plan(desired, live, inventory) -> Plan``: what to apply, in which order, what to prune.

Pure. The shell renders ``desired``, reads ``live`` (the current objects for every
desired and inventory key; a missing key means the object does not exist) and
passes the Application's inventory. A plan with errors must not be carried out at
all: a bad commit changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from quarterdeck.delivery.inventory import Entry, Owner, owner_of, owns, prune_disabled, stamp
from quarterdeck.delivery.manifests import Key, Obj, key_of
from quarterdeck.delivery.stages import CLUSTER_SCOPED, GroupKind, sort_key, stage_of

ActionKind = Literal["create", "update", "prune"]


@dataclass(frozen=True)
class Action:
    """One step: apply ``obj`` (create or update) or delete it (prune)."""

    kind: ActionKind
    key: Key
    stage: int
    obj: Obj
    api_version: str


@dataclass(frozen=True)
class Skip:
    """An inventory object left in place, and why."""

    entry: Entry
    reason: str


@dataclass(frozen=True)
class PlanOptions:
    """The prune switches of an Application and what discovery says is cluster-scoped."""

    prune: bool = True
    allow_empty: bool = False
    max_share: float = 0.5
    cluster_scoped: frozenset[GroupKind] = CLUSTER_SCOPED


@dataclass(frozen=True)
class Plan:
    """Apply waves (one per stage, in order), prunes (reverse order), skips and errors."""

    waves: tuple[tuple[Action, ...], ...] = ()
    prunes: tuple[Action, ...] = ()
    skipped: tuple[Skip, ...] = ()
    errors: tuple[str, ...] = ()
    gone: tuple[Entry, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def applies(self) -> list[Action]:
        return [a for wave in self.waves for a in wave]


def _waves(actions: Iterable[Action]) -> tuple[tuple[Action, ...], ...]:
    by_stage: dict[int, list[Action]] = {}
    for action in actions:
        by_stage.setdefault(action.stage, []).append(action)
    return tuple(
        tuple(sorted(by_stage[s], key=lambda a: sort_key(a.key))) for s in sorted(by_stage)
    )


def plan(
    desired: Sequence[Obj],
    live: Mapping[Key, Obj],
    inventory: Iterable[Entry],
    owner: Owner,
    options: PlanOptions | None = None,
) -> Plan:
    """Decide the sync of ``desired`` over ``live`` for the Application ``owner``."""
    opts = options or PlanOptions()
    errors: list[str] = []
    inventory = list(inventory)
    ours = {e.key for e in inventory}
    applies: list[Action] = []
    desired_keys: set[Key] = set()
    for obj in desired:
        key = key_of(obj)
        if key in desired_keys:
            errors.append(f"duplicate object {key}")
            continue
        desired_keys.add(key)
        current = live.get(key)
        other = owner_of(current) if current is not None else None
        if other is not None and other != owner:
            errors.append(f"{key} is owned by application {other}; refusing to take it over")
        elif (
            current is not None and other is None and key not in ours and not adopts(current, owner)
        ):
            errors.append(
                f"{key} exists and was not created by this application; refusing to adopt it "
                f"(annotate it {ADOPT_ANNOTATION}={owner} to hand it over)"
            )
        kind: ActionKind = "create" if current is None else "update"
        stage = stage_of(key, opts.cluster_scoped)
        applies.append(Action(kind, key, stage, stamp(obj, owner), str(obj["apiVersion"])))

    inventory_list = sorted(set(inventory))
    prunes: list[Action] = []
    skipped: list[Skip] = []
    gone: list[Entry] = []
    for entry in inventory_list:
        if entry.key in desired_keys:
            continue
        current = live.get(entry.key)
        if current is None:
            gone.append(entry)
        elif not opts.prune:
            skipped.append(Skip(entry, "prune is off for this application"))
        elif not owns(owner, current):
            skipped.append(Skip(entry, f"not owned by {owner} (owner labels differ)"))
        elif prune_disabled(current):
            skipped.append(Skip(entry, "prune disabled by annotation"))
        else:
            stage = stage_of(entry.key, opts.cluster_scoped)
            prunes.append(Action("prune", entry.key, stage, current, entry.api_version))
    errors += _guard(len(prunes), len(desired_keys), len(inventory_list), opts)
    prunes.sort(key=lambda a: (a.stage, sort_key(a.key)), reverse=True)
    return Plan(_waves(applies), tuple(prunes), tuple(skipped), tuple(errors), tuple(gone))


#: An object that exists before an Application created it is taken over only when it carries
#: this annotation naming the Application (``namespace/name``): no silent adoption.
ADOPT_ANNOTATION = "delivery.quarterdeck.dev/adopt"


def adopts(obj: Obj, owner: Owner) -> bool:
    """Whether ``obj`` opts in to being taken over by ``owner``."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return isinstance(annotations, dict) and annotations.get(ADOPT_ANNOTATION) == str(owner)


def _guard(pruning: int, desired: int, inventory: int, opts: PlanOptions) -> list[str]:
    """Refuse a prune that looks like a broken commit rather than an intended removal."""
    if pruning == 0:
        return []
    if desired == 0 and not opts.allow_empty:
        return [
            f"refusing to prune all {pruning} objects: the render is empty "
            "(set pruneOptions.allowEmpty to allow)"
        ]
    if desired and pruning > 1 and pruning > opts.max_share * inventory:
        return [
            f"refusing to prune {pruning} of {inventory} objects, more than "
            f"{opts.max_share:.0%} (raise pruneOptions.maxShare to allow)"
        ]
    return []
