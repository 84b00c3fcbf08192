"""`qd diff` as `kubectl diff` shows it: a unified diff of live vs desired YAML per object.

Pure: the shell hands in the live object and the server-side dry-run result; fields
the server owns for bookkeeping (managedFields) are left out of both sides.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

#: metadata fields that always differ between a live object and a dry-run and say nothing.
_BOOKKEEPING = ("managedFields",)


def comparable(obj: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The object without managedFields (a copy); None stays None."""
    if obj is None:
        return None
    out = dict(obj)
    meta = {k: v for k, v in (out.get("metadata") or {}).items() if k not in _BOOKKEEPING}
    out["metadata"] = meta
    return out


def _lines(obj: Mapping[str, Any] | None) -> list[str]:
    import yaml

    if obj is None:
        return []
    return str(yaml.safe_dump(comparable(obj), sort_keys=True)).splitlines(keepends=True)


def unified(label: str, live: Mapping[str, Any] | None, desired: Mapping[str, Any] | None) -> str:
    """`diff -u` of the YAML of live (`---`) and desired (`+++`); empty when they match."""
    before = "/dev/null" if live is None else f"live/{label}"
    after = "/dev/null" if desired is None else f"desired/{label}"
    lines = difflib.unified_diff(_lines(live), _lines(desired), before, after)
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)
