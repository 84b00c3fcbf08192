"""An over-budget team's ClusterQueue stops borrowing, through the queue's own spec. Pure.

With `Budget.spec.stopBorrowing`, a team at 100 % of its budget has every
`borrowingLimit` of its ClusterQueue set to 0: it keeps its nominal quota but takes
nothing more from its cohort, so the budget acts through queueing without showback
touching queueing's code. The limits it had are kept in an annotation on the
ClusterQueue and put back when the budget's next period starts (or the team is back
under 100 %, or no Budget holds it stopped any more: deleted, its queue changed, or
deleted while the operator was down, which is why this is found from the queues' state
each pass and never from a delete event). Both are JSON Patches that first `test` the
resource groups they were computed from, so an edit made in between makes the patch fail
(retried next pass) instead of being overwritten.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from typing import Any

SAVED = "showback.quarterdeck.dev/borrowing-limits"
_SAVED_PATH = "/metadata/annotations/" + SAVED.replace("~", "~0").replace("/", "~1")
Ops = list[dict[str, Any]]


def _groups(cq: Mapping[str, Any]) -> list[Any]:
    return list((cq.get("spec") or {}).get("resourceGroups") or [])


def stopped(cq: Mapping[str, Any]) -> bool:
    """Whether showback stopped this queue's borrowing (its old limits are saved)."""
    return SAVED in ((cq.get("metadata") or {}).get("annotations") or {})


def stop_borrowing(cq: Mapping[str, Any]) -> Ops | None:
    """The patch setting every borrowingLimit to 0 and saving the old ones; None when
    already stopped."""
    if stopped(cq):
        return None
    groups = _groups(cq)
    new, saved = copy.deepcopy(groups), []
    for i, group in enumerate(new):
        for j, flavor in enumerate(group.get("flavors") or []):
            for k, resource in enumerate(flavor.get("resources") or []):
                saved.append([i, j, k, resource.get("borrowingLimit")])
                resource["borrowingLimit"] = 0
    ops: Ops = [{"op": "test", "path": "/spec/resourceGroups", "value": groups}]
    if not (cq.get("metadata") or {}).get("annotations"):
        ops.append({"op": "add", "path": "/metadata/annotations", "value": {}})
    ops.append({"op": "add", "path": _SAVED_PATH, "value": json.dumps(saved)})
    ops.append({"op": "replace", "path": "/spec/resourceGroups", "value": new})
    return ops


def restore_borrowing(cq: Mapping[str, Any]) -> Ops | None:
    """The patch putting the saved borrowingLimits back (an unset one unset again);
    None when nothing was stopped. A saved place that no longer exists is skipped."""
    annotations = (cq.get("metadata") or {}).get("annotations") or {}
    if SAVED not in annotations:
        return None
    try:
        saved = json.loads(annotations[SAVED])
    except ValueError:
        saved = []
    groups = _groups(cq)
    new = copy.deepcopy(groups)
    for entry in saved if isinstance(saved, list) else []:
        try:
            i, j, k, old = entry
            resource = new[i]["flavors"][j]["resources"][k]
        except (ValueError, TypeError, IndexError, KeyError):
            continue
        if old is None:
            resource.pop("borrowingLimit", None)
        else:
            resource["borrowingLimit"] = old
    return [
        {"op": "test", "path": "/spec/resourceGroups", "value": groups},
        {"op": "remove", "path": _SAVED_PATH},
        {"op": "replace", "path": "/spec/resourceGroups", "value": new},
    ]


def orphaned(queues: Iterable[Mapping[str, Any]], held: set[str]) -> list[Mapping[str, Any]]:
    """Queues whose borrowing showback stopped but no Budget in `held` keeps stopped."""
    return [
        cq
        for cq in queues
        if stopped(cq) and str((cq.get("metadata") or {}).get("name", "")) not in held
    ]
