"""Sync waves and hooks: which rendered objects are hooks, when they run, in what order.

Pure. Argo CD's annotations are honoured as Argo CD users write them, and ours mean
the same for users who start with quarterdeck:

- ``argocd.argoproj.io/sync-wave`` / ``delivery.quarterdeck.dev/sync-wave``: an integer;
  inside each apply stage (CRDs and Namespaces, cluster-scoped, namespaced) lower
  waves are applied, and must be healthy, before higher ones.
- ``argocd.argoproj.io/hook`` / ``delivery.quarterdeck.dev/hook``: ``PreSync``, ``Sync``,
  ``PostSync``, ``SyncFail`` (comma-separated for several) or ``Skip``. Hooks are not
  part of the inventory: they are created at their phase (``generateName`` allowed),
  waited for, and deleted by their policy. Helm's ``helm.sh/hook`` maps onto the
  same phases (pre-install/pre-upgrade: PreSync; post-install/post-upgrade: PostSync).
- ``argocd.argoproj.io/hook-delete-policy`` / ``delivery.quarterdeck.dev/hook-delete-policy``:
  ``BeforeHookCreation`` (the default, as in Argo CD), ``HookSucceeded``, ``HookFailed``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

Obj = dict[str, Any]
Phase = Literal["PreSync", "Sync", "PostSync", "SyncFail"]
DeletePolicy = Literal["BeforeHookCreation", "HookSucceeded", "HookFailed"]
PHASES: tuple[Phase, ...] = ("PreSync", "Sync", "PostSync", "SyncFail")
DELETE_POLICIES: tuple[DeletePolicy, ...] = ("BeforeHookCreation", "HookSucceeded", "HookFailed")

OURS = "delivery.quarterdeck.dev"
ARGO = "argocd.argoproj.io"
WAVE_ANNOTATIONS = (f"{OURS}/sync-wave", f"{ARGO}/sync-wave", "helm.sh/hook-weight")
HOOK_ANNOTATIONS = (f"{OURS}/hook", f"{ARGO}/hook")
HELM_HOOK = "helm.sh/hook"
DELETE_ANNOTATIONS = (f"{OURS}/hook-delete-policy", f"{ARGO}/hook-delete-policy")
HELM_DELETE = "helm.sh/hook-delete-policy"
#: Set on every hook object we create, so BeforeHookCreation finds earlier runs of a
#: ``generateName`` hook (whose names differ each time).
HOOK_ID_LABEL = f"{OURS}/hook-id"

_HELM_PHASES: dict[str, Phase] = {
    "pre-install": "PreSync",
    "pre-upgrade": "PreSync",
    "post-install": "PostSync",
    "post-upgrade": "PostSync",
}
_HELM_DELETES: dict[str, DeletePolicy] = {
    "before-hook-creation": "BeforeHookCreation",
    "hook-succeeded": "HookSucceeded",
    "hook-failed": "HookFailed",
}


class HookError(ValueError):
    """A hook or wave annotation that cannot be honoured; the message names the object."""


@dataclass(frozen=True)
class Hook:
    """A rendered object that runs at one or more phases instead of being applied."""

    obj: Obj
    phases: tuple[Phase, ...]
    delete_policies: tuple[DeletePolicy, ...]
    wave: int

    @property
    def name(self) -> str:
        meta = self.obj.get("metadata") or {}
        return str(meta.get("name") or meta.get("generateName") or "")

    @property
    def generated(self) -> bool:
        return not (self.obj.get("metadata") or {}).get("name")

    def label(self) -> str:
        """``Kind ns/name`` for messages (a generateName hook shows its prefix)."""
        ns = (self.obj.get("metadata") or {}).get("namespace") or ""
        return f"{self.obj.get('kind')} {ns + '/' if ns else ''}{self.name}"

    def hook_id(self, owner: str) -> str:
        """A label value naming this hook of this Application across runs."""
        ns = (self.obj.get("metadata") or {}).get("namespace") or ""
        ident = f"{owner}|{self.obj.get('apiVersion')}|{self.obj.get('kind')}|{ns}|{self.name}"
        return hashlib.sha256(ident.encode()).hexdigest()[:16]


def _annotations(obj: Mapping[str, Any]) -> Mapping[str, str]:
    found = (obj.get("metadata") or {}).get("annotations") or {}
    return found if isinstance(found, Mapping) else {}


def _first(annotations: Mapping[str, str], names: Iterable[str]) -> tuple[str, str] | None:
    for name in names:
        if name in annotations:
            return name, str(annotations[name])
    return None


def _items(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def is_hook(obj: Mapping[str, Any]) -> bool:
    """Whether ``obj`` carries a hook annotation (ours, Argo CD's or Helm's)."""
    annotations = _annotations(obj)
    return any(a in annotations for a in (*HOOK_ANNOTATIONS, HELM_HOOK))


def wave_of(obj: Mapping[str, Any]) -> int:
    """The object's sync wave (0 without an annotation); HookError if not an integer."""
    found = _first(_annotations(obj), WAVE_ANNOTATIONS)
    if found is None:
        return 0
    name, value = found
    try:
        return int(value.strip())
    except ValueError:
        raise HookError(f"{_describe(obj)}: {name} {value!r} is not an integer") from None


def _describe(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{obj.get('kind')} {meta.get('name') or meta.get('generateName') or '?'}"


def _phases(obj: Mapping[str, Any]) -> tuple[Phase, ...] | None:
    """The phases of a hook; () for Skip; None when ``obj`` is no hook."""
    annotations = _annotations(obj)
    found = _first(annotations, HOOK_ANNOTATIONS)
    if found is not None:
        name, value = found
        out: list[Phase] = []
        for item in _items(value):
            if item == "Skip":
                return ()
            if item not in PHASES:
                raise HookError(
                    f"{_describe(obj)}: {name} {item!r} is not one of {', '.join(PHASES)}, Skip"
                )
            out.append(item)  # type: ignore[arg-type]
        return tuple(dict.fromkeys(out))
    if HELM_HOOK in annotations:
        helm = [_HELM_PHASES.get(i) for i in _items(annotations[HELM_HOOK])]
        return tuple(dict.fromkeys(p for p in helm if p is not None))  # test hooks: skipped
    return None


def _delete_policies(obj: Mapping[str, Any]) -> tuple[DeletePolicy, ...]:
    annotations = _annotations(obj)
    found = _first(annotations, DELETE_ANNOTATIONS)
    out: list[DeletePolicy] = []
    if found is not None:
        name, value = found
        for item in _items(value):
            if item not in DELETE_POLICIES:
                raise HookError(
                    f"{_describe(obj)}: {name} {item!r} is not one of {', '.join(DELETE_POLICIES)}"
                )
            out.append(item)  # type: ignore[arg-type]
    elif HELM_DELETE in annotations:
        out = [_HELM_DELETES[i] for i in _items(annotations[HELM_DELETE]) if i in _HELM_DELETES]
    return tuple(dict.fromkeys(out)) or ("BeforeHookCreation",)


def split(objects: Sequence[Obj]) -> tuple[list[Obj], list[Hook]]:
    """The objects to apply (and track) and the hooks; Skip objects are in neither.

    Raises HookError for an unknown phase or policy, a non-integer wave, or an object
    without ``metadata.name`` that is not a hook (only hooks may use ``generateName``).
    """
    resources: list[Obj] = []
    hooks: list[Hook] = []
    for obj in objects:
        wave = wave_of(obj)
        phases = _phases(obj)
        if phases is None:
            if not (obj.get("metadata") or {}).get("name"):
                raise HookError(
                    f"{_describe(obj)}: only hooks may use generateName; give it a "
                    "metadata.name or a hook annotation"
                )
            resources.append(obj)
        elif phases:
            hooks.append(Hook(obj, phases, _delete_policies(obj), wave))
    return resources, hooks


def _order(hook: Hook) -> tuple[int, str, str]:
    return (hook.wave, str(hook.obj.get("kind")), hook.name)


def phase_waves(hooks: Iterable[Hook], phase: Phase) -> list[list[Hook]]:
    """The hooks of ``phase`` grouped by wave, lowest first; each group runs together."""
    mine = sorted((h for h in hooks if phase in h.phases), key=_order)
    out: list[list[Hook]] = []
    for hook in mine:
        if out and out[-1][0].wave == hook.wave:
            out[-1].append(hook)
        else:
            out.append([hook])
    return out


HookState = Literal["Running", "Succeeded", "Failed"]


def hook_state(obj: Mapping[str, Any]) -> tuple[HookState, str]:
    """Whether a live hook object has finished: Jobs by their conditions, Pods by their
    phase; any other kind is done once it exists (as in Argo CD)."""
    kind = obj.get("kind")
    status = obj.get("status") or {}
    if kind == "Job":
        for cond in status.get("conditions") or []:
            if cond.get("status") != "True":
                continue
            if cond.get("type") == "Failed":
                return "Failed", str(cond.get("message") or cond.get("reason") or "job failed")
            if cond.get("type") == "Complete":
                return "Succeeded", "job completed"
        return "Running", f"{status.get('active', 0)} pods active"
    if kind == "Pod":
        phase = status.get("phase", "Pending")
        if phase == "Succeeded":
            return "Succeeded", "pod succeeded"
        if phase == "Failed":
            return "Failed", str(status.get("message") or status.get("reason") or "pod failed")
        return "Running", f"pod is {phase}"
    return "Succeeded", "created"


def delete_after(hook: Hook, state: HookState) -> bool:
    """Whether the finished ``hook`` is deleted by its policy."""
    return (state == "Succeeded" and "HookSucceeded" in hook.delete_policies) or (
        state == "Failed" and "HookFailed" in hook.delete_policies
    )


class Step(Protocol):
    """An apply step of a plan: its object and its stage."""

    @property
    def obj(self) -> Obj: ...

    @property
    def stage(self) -> int: ...


S = TypeVar("S", bound=Step)


def in_waves(steps: Iterable[S]) -> list[tuple[int, list[S]]]:
    """Apply steps grouped by (stage, sync wave), in that order, each with its wave; the
    steps' own order is kept inside a group."""
    groups: dict[tuple[int, int], list[S]] = {}
    for step in steps:
        groups.setdefault((step.stage, wave_of(step.obj)), []).append(step)
    return [(wave, groups[(stage, wave)]) for stage, wave in sorted(groups)]
