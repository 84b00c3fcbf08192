"""Running hooks: create each hook of a phase, wait for it, delete it by its policy.

The shell around ``hooks``. A hook is created with POST (``generateName`` works),
labelled with its owner and its hook id, and polled until it finishes or the sync's
deadline passes; a hook that never finishes fails the sync by the Application's
timeout. Deletes propagate in the background so a hook Job's pods go with it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from lightkube.types import CascadeType

from quarterdeck.api.delivery import HookStatus
from quarterdeck.delivery.cluster import Cluster, ClusterError, UnknownKind, call_api
from quarterdeck.delivery.hooks import (
    HOOK_ID_LABEL,
    Hook,
    HookState,
    Phase,
    delete_after,
    hook_state,
    phase_waves,
)
from quarterdeck.delivery.inventory import Owner, stamp
from quarterdeck.delivery.manifests import Key, Obj, key_of
from quarterdeck.delivery.stages import GroupKind, with_namespace


@dataclass(frozen=True)
class HookRun:
    """One hook at one phase: the object it created, how and when (wall clock, seconds)
    it ended; ``finished`` is 0 for a hook still running at the deadline."""

    phase: Phase
    hook: str  # Kind ns/name as written (a generateName hook shows its prefix)
    name: str  # the object's name in the cluster ("" if it was never created)
    state: HookState
    message: str
    started: float = 0.0
    finished: float = 0.0


def _rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if ts else ""


def statuses(runs: Sequence[HookRun]) -> list[HookStatus]:
    """Hook runs as the Application's status shows them (in its sync's history entry)."""
    return [
        HookStatus(
            phase=r.phase,
            hook=r.hook,
            name=r.name,
            result=r.state,
            started=_rfc3339(r.started),
            finished=_rfc3339(r.finished),
            message=r.message[:512],
        )
        for r in runs
    ]


def prepared(hook: Hook, owner: Owner, namespace: str, scoped: frozenset[GroupKind]) -> Obj:
    """The hook object as it is created: namespaced, owner-labelled, with its hook id."""
    obj = with_namespace(stamp(hook.obj, owner), namespace, scoped)
    obj["metadata"]["labels"][HOOK_ID_LABEL] = hook.hook_id(str(owner))
    return obj


def _delete(cluster: Cluster, api_version: str, key: Key) -> None:
    cls = cluster.resource(api_version, key.kind)
    try:
        call_api(
            lambda: cluster.client.delete(
                cls, key.name, namespace=key.namespace or None, cascade=CascadeType.BACKGROUND
            )
        )
    except ClusterError as err:
        if err.code != 404:
            raise


def _earlier_runs(cluster: Cluster, obj: Obj) -> list[Key]:
    """Live objects created by earlier runs of the same hook (found by its hook id)."""
    cls = cluster.resource(str(obj["apiVersion"]), str(obj["kind"]))
    meta = obj["metadata"]
    selector = {HOOK_ID_LABEL: meta["labels"][HOOK_ID_LABEL]}
    found = call_api(
        lambda: list(cluster.client.list(cls, namespace=meta.get("namespace"), labels=selector))
    )
    mine = key_of(obj)  # listed items carry no kind: only their names are read
    keys = [Key(mine.group, mine.kind, mine.namespace, str(o["metadata"]["name"])) for o in found]
    if meta.get("name"):
        keys.append(key_of(obj))
    return sorted(set(keys))


def _wait_gone(cluster: Cluster, api_version: str, keys: Sequence[Key], deadline: float) -> bool:
    pause = 0.05
    pending = list(keys)
    while pending:
        pending = [k for k in pending if cluster.get(api_version, k) is not None]
        if not pending:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(pause)
        pause = min(pause * 2, 0.5)
    return True


def _create(cluster: Cluster, obj: Obj, *, dry_run: bool = False) -> Obj:
    """POST the hook; a named hook that exists already (kept from an earlier run without
    BeforeHookCreation) is that object, as in Argo CD."""
    cls = cluster.resource(str(obj["apiVersion"]), str(obj["kind"]))
    meta = obj["metadata"]
    try:
        made = call_api(
            lambda: cluster.client.create(
                cls.from_dict(obj), namespace=meta.get("namespace"), dry_run=dry_run
            )
        )
    except ClusterError as err:
        if err.code == 409 and meta.get("name") and not dry_run:
            live = cluster.get(str(obj["apiVersion"]), key_of(obj))
            if live is not None:
                return live
        raise
    return dict(made)


def check(
    cluster: Cluster,
    hooks: Sequence[Hook],
    owner: Owner,
    namespace: str,
    scoped: frozenset[GroupKind],
) -> list[str]:
    """Dry-run the creation of every hook, so a broken hook stops the sync before any
    change; errors as ``Kind ns/name: reason``."""
    errors = []
    for hook in hooks:
        obj = prepared(hook, owner, namespace, scoped)
        if obj["metadata"].get("name"):
            continue  # a named hook may exist from an earlier run: checked when it runs
        try:
            _create(cluster, obj, dry_run=True)
        except (ClusterError, UnknownKind) as err:
            errors.append(f"hook {hook.label()}: {err}")
    return errors


def run_phase(
    cluster: Cluster,
    hooks: Sequence[Hook],
    phase: Phase,
    owner: Owner,
    namespace: str,
    scoped: frozenset[GroupKind],
    deadline: float,
) -> tuple[list[HookRun], list[str]]:
    """Run the hooks of ``phase`` wave by wave; stops at the first wave with a failure.

    Returns what ran and the errors (a failed hook, one that did not finish before
    ``deadline`` (monotonic), or an API error)."""
    runs: list[HookRun] = []
    for wave in phase_waves(hooks, phase):
        errors: list[str] = []
        started: list[tuple[Hook, Obj]] = []
        began: dict[Key, float] = {}
        for hook in wave:
            obj = prepared(hook, owner, namespace, scoped)
            api_version = str(obj["apiVersion"])
            try:
                if "BeforeHookCreation" in hook.delete_policies:
                    earlier = _earlier_runs(cluster, obj)
                    for key in earlier:
                        _delete(cluster, api_version, key)
                    if not _wait_gone(cluster, api_version, earlier, deadline):
                        raise ClusterError("an earlier run is still being deleted", 0)
                now = time.time()
                made = _create(cluster, obj)
                started.append((hook, made))
                began[key_of(made)] = now
            except (ClusterError, UnknownKind) as err:
                now = time.time()
                runs.append(HookRun(phase, hook.label(), "", "Failed", str(err), now, now))
                errors.append(f"{phase} hook {hook.label()}: {err}")
        for hook, live, state, message, ended in _wait_all(cluster, started, deadline):
            name = str(live["metadata"]["name"])
            began_at = began.get(key_of(live), ended)
            runs.append(HookRun(phase, hook.label(), name, state, message, began_at, ended))
            where = f"{phase} hook {live['kind']} {live['metadata'].get('namespace', '')}/{name}"
            if state == "Failed":
                errors.append(f"{where} failed: {message}")
            elif state == "Running":
                errors.append(f"{where} did not finish in time ({message})")
            if delete_after(hook, state):
                try:
                    _delete(cluster, str(live["apiVersion"]), key_of(live))
                except ClusterError as err:
                    errors.append(f"{where}: could not delete it: {err}")
        if errors:
            return runs, errors
    return runs, []


def _wait_all(
    cluster: Cluster, started: Sequence[tuple[Hook, Obj]], deadline: float
) -> list[tuple[Hook, Obj, HookState, str, float]]:
    """Poll the created hooks until each has finished or the deadline passed; each with
    the wall time it was seen finished (0 if it was still running)."""
    current = {key_of(live): (hook, live) for hook, live in started}
    done: dict[Key, tuple[Hook, Obj, HookState, str, float]] = {}
    pause = 0.05
    while True:
        for key, (hook, live) in current.items():
            state, message = hook_state(live)
            if state != "Running" or time.monotonic() > deadline:
                done[key] = (hook, live, state, message, time.time() if state != "Running" else 0.0)
        current = {k: v for k, v in current.items() if k not in done}
        if not current:
            return [done[key_of(live)] for _, live in started]
        time.sleep(pause)
        pause = min(pause * 2, 0.5)
        for key, (hook, live) in list(current.items()):
            polled = cluster.get(str(live["apiVersion"]), key)
            if polled is None:
                done[key] = (hook, live, "Failed", "deleted before it finished", time.time())
            else:
                current[key] = (hook, polled)
