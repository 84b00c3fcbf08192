"""Kubernetes object conventions shared by every quarterdeck API group.

Only the fields our controllers read or write are modelled; the API server keeps
the rest of ``metadata`` (the CRD schema declares it as a plain object).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

ConditionStatus = Literal["True", "False", "Unknown"]


class ObjectMeta(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """The part of ``metadata`` quarterdeck reads."""

    name: str = ""
    namespace: str = ""
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    generation: int = 0
    uid: str = ""
    resource_version: str = ""
    creation_timestamp: str = ""  # RFC 3339; queueing orders equal priorities by it


class ObjectReference(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """Points at one Kubernetes object; namespace empty means the referrer's own."""

    api_version: str = ""
    kind: str
    name: str
    namespace: str = ""


class LocalReference(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """Points at an object of a known kind, by name and optional namespace."""

    name: Annotated[str, msgspec.Meta(min_length=1)]
    namespace: str = ""


class Condition(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """A metav1.Condition: the kstatus vocabulary (Ready, Reconciling, Stalled)."""

    type: Annotated[str, msgspec.Meta(min_length=1)]
    status: ConditionStatus
    reason: str = ""
    message: str = ""
    observed_generation: int = 0
    last_transition_time: str = ""


def set_condition(conditions: list[Condition], new: Condition) -> list[Condition]:
    """Return conditions with ``new`` replacing the one of its type.

    The transition time only moves when the status changes, as Kubernetes
    conventions ask, so watchers can tell how long a state has held.
    """
    out: list[Condition] = []
    replaced = False
    for cond in conditions:
        if cond.type != new.type:
            out.append(cond)
            continue
        replaced = True
        if cond.status == new.status and cond.last_transition_time:
            new = msgspec.structs.replace(new, last_transition_time=cond.last_transition_time)
        out.append(new)
    if not replaced:
        out.append(new)
    return out


def find_condition(conditions: list[Condition], type_: str) -> Condition | None:
    """The condition of ``type_``, if present."""
    return next((c for c in conditions if c.type == type_), None)
