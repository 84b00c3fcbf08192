"""``drift(desired, live)``: which fields of a live object differ from what Git says.

Pure. ``desired`` is the server-side dry-run result of applying the Git object,
so API defaults and fields of other managers are already in it exactly as they
are live; any remaining difference is a field our manager set and someone
changed. Server-maintained metadata and status are never drift.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_VOLATILE_META = frozenset(
    {"managedFields", "resourceVersion", "generation", "creationTimestamp", "uid", "selfLink"}
)
_VOLATILE_ANNOTATIONS = frozenset(
    {"kubectl.kubernetes.io/last-applied-configuration", "deployment.kubernetes.io/revision"}
)
MISSING: Any = None


@dataclass(frozen=True)
class FieldDiff:
    """One field path (``spec.template.spec.containers[name=web].image``) and both values."""

    path: str
    desired: Any
    live: Any


def _comparable(obj: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in obj.items() if k != "status"}
    meta = dict(obj.get("metadata") or {})
    for key in _VOLATILE_META:
        meta.pop(key, None)
    if "annotations" in meta:
        kept = {k: v for k, v in meta["annotations"].items() if k not in _VOLATILE_ANNOTATIONS}
        if kept:
            meta["annotations"] = kept
        else:
            del meta["annotations"]
    out["metadata"] = meta
    return out


def _named(items: list[Any]) -> dict[str, Any] | None:
    """Lists of objects with unique names (containers, ports, env) compare by name."""
    if not items or not all(isinstance(i, Mapping) and "name" in i for i in items):
        return None
    names = [str(i["name"]) for i in items]
    return dict(zip(names, items, strict=True)) if len(set(names)) == len(names) else None


def _walk(path: str, want: Any, have: Any, out: list[FieldDiff]) -> None:
    if isinstance(want, Mapping) and isinstance(have, Mapping):
        for key in sorted(set(want) | set(have), key=str):
            sub = f"{path}.{key}" if path else str(key)
            _walk(sub, want.get(key, MISSING), have.get(key, MISSING), out)
        return
    if isinstance(want, list) and isinstance(have, list):
        by_want, by_have = _named(want), _named(have)
        if by_want is not None and by_have is not None:
            for name in list(by_want) + [n for n in by_have if n not in by_want]:
                _walk(f"{path}[name={name}]", by_want.get(name), by_have.get(name), out)
            return
        if len(want) == len(have):
            for i, (w, h) in enumerate(zip(want, have, strict=True)):
                _walk(f"{path}[{i}]", w, h, out)
            return
    if want != have:
        out.append(FieldDiff(path, want, have))


def drift(desired: Mapping[str, Any], live: Mapping[str, Any]) -> list[FieldDiff]:
    """Field-level differences between the dry-run result and the live object."""
    out: list[FieldDiff] = []
    _walk("", _comparable(desired), _comparable(live), out)
    return out
