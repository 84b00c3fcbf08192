"""One sync: render result in, cluster changed (or not at all), result out.

The imperative shell around ``plan``: read live state, plan, dry-run the whole
set (a bad commit stops here with nothing changed), apply wave by wave with
bounded concurrency (waiting for CRDs to be established), prune, then wait for
health. ``diff`` is the same up to the dry-run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from quarterdeck.delivery.cluster import Cluster, ClusterError, UnknownKind
from quarterdeck.delivery.drift import FieldDiff, drift
from quarterdeck.delivery.health import Health, aggregate, health
from quarterdeck.delivery.health_cel import HealthRule, health_by_rule, rule_for
from quarterdeck.delivery.hookrun import HookRun, check, run_phase
from quarterdeck.delivery.hooks import Hook, HookError, Phase, in_waves, split
from quarterdeck.delivery.inventory import Entry, Owner, entries_of, next_inventory
from quarterdeck.delivery.livecache import generation, stale_absence
from quarterdeck.delivery.manifests import Key, Obj, key_of
from quarterdeck.delivery.plan import Action, Plan, PlanOptions, plan
from quarterdeck.delivery.stages import CLUSTER_SCOPED, with_namespace
from quarterdeck.rollout.ownership import hand_over

T = TypeVar("T")
R = TypeVar("R")
CRD_KIND = ("apiextensions.k8s.io", "CustomResourceDefinition")


@dataclass(frozen=True)
class SyncOptions:
    """Switches of one sync (from an Application spec or `qd sync` flags)."""

    namespace: str = "default"
    prune: bool = True
    allow_empty: bool = False
    max_share: float = 0.5
    concurrency: int = 8
    wait: bool = True
    timeout: float = 300.0
    dry_run: bool = False
    recreate_on_immutable: bool = False
    health_rules: tuple[HealthRule, ...] = ()
    health_checks: tuple[tuple[str, Key], ...] = ()  # (apiVersion, key) outside the set
    # called once the dry-run passed, before the first change: the operator records
    # its inventory-to-be there, so a crash mid-apply leaves nothing it cannot prune
    before_changes: Callable[[Plan, SyncResult], None] | None = None


@dataclass
class SyncResult:
    """What a sync did; ``errors`` non-empty means nothing was changed (or it stopped)."""

    plan: Plan
    created: list[Key] = field(default_factory=list)
    configured: list[Key] = field(default_factory=list)
    unchanged: list[Key] = field(default_factory=list)
    pruned: list[Key] = field(default_factory=list)
    drift: dict[Key, list[FieldDiff]] = field(default_factory=dict)
    health: dict[Key, Health] = field(default_factory=dict)
    inventory: list[Entry] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    recreated: list[Key] = field(default_factory=list)
    applied: dict[Key, Obj] = field(default_factory=dict)
    hooks: list[HookRun] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def overall(self) -> Health:
        return aggregate(self.health.values())


def _pool_map(fn: Callable[[T], R], items: Sequence[T], workers: int) -> list[R]:
    if len(items) <= 1 or workers <= 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        return list(pool.map(fn, items))


def _attempt(fn: Callable[[], R]) -> tuple[R | None, str]:
    try:
        return fn(), ""
    except (ClusterError, UnknownKind) as err:
        return None, str(err)


def prepare(
    cluster: Cluster, desired: Sequence[Obj], namespace: str
) -> tuple[list[Obj], frozenset[tuple[str, str]]]:
    """Desired objects with namespaces settled by discovery, and the cluster-scoped kinds.

    Raises UnknownKind for a kind neither built in nor defined by a CRD.
    """
    crds = [o for o in desired if (str(o["apiVersion"]).split("/")[0], o["kind"]) == CRD_KIND]
    cluster.learn_crds(crds, installed=False)
    scoped = set(CLUSTER_SCOPED)
    for obj in desired:
        kind = cluster.kind(str(obj["apiVersion"]), str(obj["kind"]))
        gk = (str(obj["apiVersion"]).rpartition("/")[0], kind.kind)
        if kind.namespaced:
            scoped.discard(gk)
        else:
            scoped.add(gk)
    frozen = frozenset(scoped)
    return [with_namespace(o, namespace, frozen) for o in desired], frozen


def make_plan(
    cluster: Cluster,
    desired: Sequence[Obj],
    inventory: Sequence[Entry],
    owner: Owner,
    opts: SyncOptions,
) -> tuple[Plan, dict[Key, Obj], list[str]]:
    """Read live state for desired and inventory objects and plan the sync."""
    try:
        objs, scoped = prepare(cluster, desired, opts.namespace)
    except UnknownKind as unknown:
        return Plan(errors=(str(unknown),)), {}, []
    objs = hand_over(objs)  # a blue/green Rollout's Service selectors are the Rollout's
    wanted = [(str(o["apiVersion"]), key_of(o)) for o in objs]
    seen = {k for _, k in wanted}
    wanted += [(e.api_version, e.key) for e in inventory if e.key not in seen]
    live, errors = cluster.get_many(wanted, opts.concurrency)
    options = PlanOptions(
        prune=opts.prune,
        allow_empty=opts.allow_empty,
        max_share=opts.max_share,
        cluster_scoped=scoped,
    )
    return plan(objs, live, inventory, owner, options), live, errors


def _scoped(cluster: Cluster, api_version: str, key: Key) -> Key:
    """``key`` without a namespace when its kind is cluster-scoped (or unknown)."""
    try:
        namespaced = cluster.kind(api_version, key.kind).namespaced
    except UnknownKind:
        namespaced = True  # the read reports the unknown kind as the object's health
    return key if namespaced else Key(key.group, key.kind, "", key.name)


def _needs_foundation(p: Plan) -> set[Key]:
    """Objects that cannot be dry-run before stage 0: in new namespaces or of new CRDs."""
    creates = [a for a in p.applies if a.stage == 0 and a.kind == "create"]
    new_namespaces = {a.key.name for a in creates if a.key.kind == "Namespace"}
    new_kinds = {
        (a.obj["spec"]["group"], a.obj["spec"]["names"]["kind"])
        for a in creates
        if (a.key.group, a.key.kind) == CRD_KIND
    }
    return {
        a.key
        for a in p.applies
        if a.stage > 0
        and ((a.key.group, a.key.kind) in new_kinds or a.key.namespace in new_namespaces)
    }


def _dry_run(
    cluster: Cluster,
    actions: Sequence[Action],
    live: dict[Key, Obj],
    result: SyncResult,
    opts: SyncOptions,
) -> None:
    """Dry-run ``actions``; record errors and the drift of existing objects."""
    outcomes = _pool_map(
        lambda a: _attempt(lambda: cluster.apply(a.obj, dry_run=True)), actions, opts.concurrency
    )
    for action, (obj, err) in zip(actions, outcomes, strict=True):
        if err and "immutable" in err and action.key in live and opts.recreate_on_immutable:
            result.recreated.append(action.key)  # deleted and created again in its wave
        elif err:
            hint = " (set recreateOnImmutable to replace it)" if "immutable" in err else ""
            result.errors.append(f"{action.key}: {err}{hint}")
        elif obj is not None and action.key in live:
            diffs = drift(obj, live[action.key])
            if diffs:
                result.drift[action.key] = diffs
        elif obj is not None and stale_absence(obj):
            # planned from a cache that had not seen it yet: plan again on the next attempt
            result.errors.append(f"{action.key}: exists but was not seen yet; will retry")


def sync(
    cluster: Cluster,
    desired: Sequence[Obj],
    inventory: Sequence[Entry],
    owner: Owner,
    opts: SyncOptions | None = None,
) -> SyncResult:
    """Make the cluster match ``desired`` for ``owner``; all-or-nothing up to the dry-run.

    Hooks (``hooks``) are taken out of ``desired``: PreSync ones run after the dry-run
    and a failure stops the sync before any change; Sync ones after the last wave,
    PostSync ones once everything is healthy, SyncFail ones when the sync failed.
    """
    opts = opts or SyncOptions()
    try:
        resources, hooks = split(desired)
    except HookError as err:
        return SyncResult(
            plan=Plan(errors=(str(err),)), inventory=list(inventory), errors=[str(err)]
        )
    p, live, read_errors = make_plan(cluster, resources, inventory, owner, opts)
    result = SyncResult(plan=p, inventory=list(inventory))
    result.errors += read_errors + list(p.errors)
    if result.errors:
        return result
    later = _needs_foundation(p)
    _dry_run(cluster, [a for a in p.applies if a.key not in later], live, result, opts)
    scoped: frozenset[tuple[str, str]] = frozenset()
    if hooks and not result.errors:
        scoped = _hooks_checked(cluster, p, hooks, owner, result, opts)
    if result.errors or opts.dry_run:
        return result
    deadline = time.monotonic() + opts.timeout

    def phase(name: Phase) -> bool:
        runs, errors = run_phase(cluster, hooks, name, owner, opts.namespace, scoped, deadline)
        result.hooks += runs
        result.errors += errors
        return not errors

    if phase("PreSync"):
        _carry_out(cluster, p, live, later, result, opts, lambda: phase("Sync"))
    if hooks and not result.errors and result.overall.status in ("Healthy", "Suspended"):
        phase("PostSync")
    if hooks and result.errors:
        failed = list(result.errors)
        phase("SyncFail")
        result.errors = failed + [e for e in result.errors if e not in failed]
    return result


def _hooks_checked(
    cluster: Cluster,
    p: Plan,
    hooks: Sequence[Hook],
    owner: Owner,
    result: SyncResult,
    opts: SyncOptions,
) -> frozenset[tuple[str, str]]:
    """The cluster-scoped kinds among the hooks; errors of hooks that would not create
    (hooks in a namespace this sync creates are checked when they run)."""
    try:
        _, scoped = prepare(cluster, [h.obj for h in hooks], opts.namespace)
    except UnknownKind as unknown:
        result.errors.append(str(unknown))
        return frozenset()
    created = {a.key.name for a in p.applies if a.kind == "create" and a.key.kind == "Namespace"}
    checkable = [
        h
        for h in hooks
        if ((h.obj.get("metadata") or {}).get("namespace") or opts.namespace) not in created
    ]
    result.errors += check(cluster, checkable, owner, opts.namespace, scoped)
    return scoped


def _carry_out(
    cluster: Cluster,
    p: Plan,
    live: dict[Key, Obj],
    later: set[Key],
    result: SyncResult,
    opts: SyncOptions,
    sync_hooks: Callable[[], bool],
) -> None:
    """Apply wave by wave (a higher sync wave waits for the lower ones to be healthy),
    run the Sync hooks, prune, and wait for health."""
    if opts.before_changes is not None:
        opts.before_changes(p, result)
    done: list[Action] = []
    previous = None
    for wave_number, wave in in_waves(p.applies):
        if later and wave[0].stage > 0:  # the foundation (every stage-0 wave) exists now
            pending = [a for a in p.applies if a.key in later]
            later.clear()
            _dry_run(cluster, pending, live, result, opts)
            if result.errors:
                return
        moving_on = done and wave_number != previous and opts.wait
        if moving_on and not _wave_healthy(cluster, done, previous or 0, result, opts, live):
            return
        previous = wave_number
        _apply_wave(cluster, wave, live, result, opts)
        done += wave
        if result.errors:
            return
    if not sync_hooks():
        return
    _prune(cluster, p, result, opts)
    applied = entries_of(a.obj for a in p.applies)
    failed_prunes = [Entry(a.key, a.api_version) for a in p.prunes if a.key not in result.pruned]
    result.inventory = next_inventory(applied, [s.entry for s in p.skipped] + failed_prunes)
    if opts.wait:
        mine = {a.key for a in p.applies}
        extra = [
            Action("update", _scoped(cluster, v, k), 2, {}, v)
            for v, k in opts.health_checks
            if k not in mine
        ]
        wait_healthy(cluster, [*p.applies, *extra], result, opts, {**live, **result.applied})


def _wave_healthy(
    cluster: Cluster,
    done: Sequence[Action],
    wave: int,
    result: SyncResult,
    opts: SyncOptions,
    live: dict[Key, Obj],
) -> bool:
    """Wait for the objects applied so far before a higher sync wave starts, as Argo CD
    does; an error (later waves not applied) when one is not healthy in time."""
    wait_healthy(cluster, done, result, opts, {**live, **result.applied})
    bad = [
        f"{k}: {h.status}{': ' + h.message if h.message else ''}"
        for k, h in result.health.items()
        if h.status not in ("Healthy", "Suspended")
    ]
    if bad:
        result.errors.append(
            f"sync wave {wave} is not healthy, later waves were not applied: " + "; ".join(bad)
        )
    return not bad


def _apply_wave(
    cluster: Cluster,
    wave: Sequence[Action],
    live: dict[Key, Obj],
    result: SyncResult,
    opts: SyncOptions,
) -> None:
    changed = {*result.drift, *result.recreated}
    todo = [a for a in wave if a.kind == "create" or a.key in changed or a.key not in live]
    result.unchanged += [a.key for a in wave if a not in todo]
    for action in todo:
        if action.key in result.recreated:
            _delete_and_wait(cluster, action, result, opts.timeout)
    if result.errors:
        return
    outcomes = _pool_map(lambda a: _attempt(lambda: cluster.apply(a.obj)), todo, opts.concurrency)
    for action, (obj, err) in zip(todo, outcomes, strict=True):
        if obj is not None:
            result.applied[action.key] = obj
        if err:
            result.errors.append(f"{action.key}: {err}")
        elif action.kind == "create":
            result.created.append(action.key)
        else:
            result.configured.append(action.key)
    crds = [a.key.name for a in wave if (a.key.group, a.key.kind) == CRD_KIND]
    if crds and not result.errors:
        late = cluster.wait_established(crds, timeout=min(opts.timeout, 60.0))
        result.errors += [f"CustomResourceDefinition {n} was not established in time" for n in late]
        cluster.learn_crds()


def _delete_and_wait(cluster: Cluster, action: Action, result: SyncResult, timeout: float) -> None:
    """Delete an object whose immutable fields changed and wait until it is gone."""
    deadline = time.monotonic() + timeout
    _, err = _attempt(lambda: cluster.delete(action.api_version, action.key))
    while not err and time.monotonic() < deadline:
        gone, err = _attempt(lambda: cluster.get(action.api_version, action.key) is None)
        if gone:
            return
        time.sleep(0.1)
    result.errors.append(f"{action.key}: could not be recreated: {err or 'still present'}")


def _prune(cluster: Cluster, p: Plan, result: SyncResult, opts: SyncOptions) -> None:
    by_stage: dict[int, list[Action]] = {}
    for action in p.prunes:
        by_stage.setdefault(action.stage, []).append(action)
    for stage in sorted(by_stage, reverse=True):
        actions = by_stage[stage]
        outcomes = _pool_map(
            lambda a: _attempt(lambda: cluster.delete(a.api_version, a.key)),
            actions,
            opts.concurrency,
        )
        for action, (_, err) in zip(actions, outcomes, strict=True):
            if err:
                result.errors.append(f"prune {action.key}: {err}")
            else:
                result.pruned.append(action.key)


def judge(obj: Obj | None, rules: Sequence[HealthRule]) -> Health:
    """Health by the Application's CEL rule for the kind if it has one, else built in."""
    rule = rule_for(obj, rules) if obj is not None else None
    return health_by_rule(obj, rule) if obj is not None and rule else health(obj)


def wait_healthy(
    cluster: Cluster,
    actions: Sequence[Action],
    result: SyncResult,
    opts: SyncOptions,
    known: dict[Key, Obj] | None = None,
) -> None:
    """Poll applied objects until all are Healthy (or Degraded) or the timeout passes.

    ``known`` (apply responses, live objects left unchanged) serves the first look, so
    objects that are healthy as applied (most of them) cost no extra read.
    """
    deadline = time.monotonic() + opts.timeout
    pending = list(actions)
    pause = 0.05
    seen: dict[Key, Obj] = dict(known or {})
    errors: list[str] = []
    while True:
        still = []
        for action in pending:
            h = judge(seen.get(action.key), opts.health_rules)
            if errors and action.key not in seen:
                h = Health("Unknown", "; ".join(errors))
            result.health[action.key] = h
            if h.status not in ("Healthy", "Suspended", "Degraded"):
                still.append(action)
        pending = still
        if not pending or time.monotonic() > deadline:
            return
        time.sleep(pause)
        pause = min(pause * 2, 0.5 if cluster.cache else 2.0)
        polled, errors = cluster.get_many([(a.api_version, a.key) for a in pending])
        seen = {k: newer(seen.get(k), o) for k, o in polled.items()}


def newer(known: Obj | None, polled: Obj) -> Obj:
    """``polled`` unless it is older than ``known`` (a cache behind our own apply)."""
    return known if known is not None and generation(known) > generation(polled) else polled
