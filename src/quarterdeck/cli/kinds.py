"""The kinds `qd get` knows and the columns it prints for them, as kubectl would.

Pure: a Kind is read from our own CRD manifests (names, short names, scope and the
``additionalPrinterColumns`` kubectl shows), and a row is computed from an object and
the time now. The JSONPath subset is the one our CRDs use: ``.a.b``, ``[N]``, ``[*]``
and ``[?(@.field=="value")]``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any


class KindError(ValueError):
    """A kind the user typed that we do not own; the message lists the ones we do."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    json_path: str
    priority: int = 0


@dataclass(frozen=True)
class Kind:
    kind: str
    group: str
    version: str
    plural: str
    singular: str
    namespaced: bool
    aliases: tuple[str, ...]
    columns: tuple[Column, ...]

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"

    def names(self) -> tuple[str, ...]:
        """Every spelling that selects this kind (as `kubectl get` accepts them)."""
        full = (f"{self.plural}.{self.group}", f"{self.singular}.{self.group}")
        return (self.plural, self.singular, self.kind.lower(), *self.aliases, *full)


def kind_from_crd(crd: Mapping[str, Any], extra_aliases: Sequence[str] = ()) -> Kind:
    """A Kind from a CustomResourceDefinition manifest (its first served version)."""
    spec = crd["spec"]
    names = spec["names"]
    version = next(v for v in spec["versions"] if v.get("served", True))
    columns = tuple(
        Column(c["name"], c.get("type", "string"), c["jsonPath"], int(c.get("priority", 0)))
        for c in version.get("additionalPrinterColumns", [])
    )
    return Kind(
        kind=names["kind"],
        group=spec["group"],
        version=version["name"],
        plural=names["plural"],
        singular=names.get("singular", names["kind"].lower()),
        namespaced=spec.get("scope", "Namespaced") == "Namespaced",
        aliases=(*names.get("shortNames", ()), *extra_aliases),
        columns=columns,
    )


def find_kind(kinds: Iterable[Kind], typed: str) -> Kind:
    """The kind named by `typed` (plural, singular, short name or plural.group)."""
    known = list(kinds)
    wanted = typed.lower()
    for kind in known:
        if wanted in kind.names():
            return kind
    listing = ", ".join(sorted(k.plural for k in known))
    raise KindError(f"unknown kind {typed!r}: qd get knows {listing}")


def headers(kind: Kind, *, wide: bool, all_namespaces: bool) -> list[str]:
    """NAME, the CRD's columns (priority > 0 only with -o wide) and AGE; NAMESPACE with -A."""
    out = ["NAMESPACE"] if all_namespaces and kind.namespaced else []
    out.append("NAME")
    out.extend(c.name.upper() for c in _columns(kind, wide))
    if not any(c.type == "date" for c in _columns(kind, wide)):
        out.append("AGE")
    return out


def row(kind: Kind, obj: Mapping[str, Any], now: datetime, *, wide: bool,
        all_namespaces: bool) -> list[str]:
    """The cells of one object, in the order of `headers`."""
    meta = obj.get("metadata") or {}
    out = [str(meta.get("namespace", ""))] if all_namespaces and kind.namespaced else []
    out.append(str(meta.get("name", "")))
    for column in _columns(kind, wide):
        out.append(_cell(column, json_path(obj, column.json_path), now))
    if not any(c.type == "date" for c in _columns(kind, wide)):
        out.append(_cell(Column("Age", "date", ""), [meta.get("creationTimestamp")], now))
    return out


def object_name(kind: Kind, obj: Mapping[str, Any]) -> str:
    """`-o name`: singular.group/name, as kubectl prints it."""
    return f"{kind.singular}.{kind.group}/{(obj.get('metadata') or {}).get('name', '')}"


def _columns(kind: Kind, wide: bool) -> list[Column]:
    return [c for c in kind.columns if wide or c.priority == 0]


def _cell(column: Column, values: list[Any], now: datetime) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "<none>" if column.type != "date" else "<unknown>"
    if column.type == "date":
        try:
            then = datetime.fromisoformat(str(values[0]).replace("Z", "+00:00"))
        except ValueError:
            return "<invalid>"
        return human_duration((now - then).total_seconds())
    return ",".join(_scalar(v) for v in values)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_scalar(v) for v in value)
    return str(value)


_STEP = re.compile(
    r"""\.([A-Za-z0-9_\-]+)|\[(\d+|\*)\]|\[\?\(@\.([A-Za-z0-9_\-]+)=="([^"]*)"\)\]"""
)


def json_path(obj: Any, path: str) -> list[Any]:
    """Every value `path` selects in `obj` (kubectl's JSONPath, the subset our CRDs use)."""
    current: list[Any] = [obj]
    pos = 0
    while pos < len(path):
        step = _STEP.match(path, pos)
        if step is None:
            raise ValueError(f"unsupported JSONPath {path!r} at {path[pos:]!r}")
        pos = step.end()
        field, index, key, value = step.groups()
        nxt: list[Any] = []
        for item in current:
            if field is not None and isinstance(item, dict) and field in item:
                nxt.append(item[field])
            elif index == "*" and isinstance(item, list):
                nxt.extend(item)
            elif index is not None and index != "*" and isinstance(item, list):
                nxt.extend(item[int(index) : int(index) + 1])
            elif key is not None and isinstance(item, list):
                nxt.extend(e for e in item if isinstance(e, dict) and str(e.get(key)) == value)
        current = nxt
    return current


def human_duration(seconds: float) -> str:
    """An age as kubectl prints it: 45s, 3m20s, 5h, 12d, 2y30d."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 120:
        return f"{max(s, 0)}s"
    minutes, hours = s // 60, s // 3600
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // (24 * 365)}y{days}d" if days else f"{hours // (24 * 365)}y"
    return f"{hours // (24 * 365)}y"
