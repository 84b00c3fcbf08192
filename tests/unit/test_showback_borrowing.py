"""An over-budget team's ClusterQueue stops borrowing through its spec, and borrows
again with its old limits: JSON Patches that test what they were computed from."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from quarterdeck.showback.borrowing import (
    SAVED,
    orphaned,
    restore_borrowing,
    stop_borrowing,
    stopped,
)


class PatchTestFailed(Exception):
    pass


def apply(doc: dict[str, Any], ops: list[dict[str, Any]] | None) -> dict[str, Any]:
    """RFC 6902's add, replace, remove and test, on object paths (all these patches use)."""
    assert ops is not None
    out = copy.deepcopy(doc)
    for op in ops:
        *parents, last = [
            p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]
        ]
        node = out
        for p in parents:
            node = node[p]
        if op["op"] == "test":
            if node.get(last) != op["value"]:
                raise PatchTestFailed(op["path"])
        elif op["op"] == "remove":
            del node[last]
        else:
            assert op["op"] == "replace" or last not in node or op["op"] == "add"
            node[last] = copy.deepcopy(op["value"])
    return out


def _cq(annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": "cq-a", **({"annotations": annotations} if annotations else {})},
        "spec": {
            "cohort": "all",
            "resourceGroups": [
                {
                    "coveredResources": ["nvidia.com/gpu", "cpu"],
                    "flavors": [
                        {
                            "name": "h100",
                            "resources": [
                                {"name": "nvidia.com/gpu", "nominalQuota": 8, "borrowingLimit": 4},
                                {"name": "cpu", "nominalQuota": "64"},
                            ],
                        }
                    ],
                }
            ],
        },
    }


def test_stopping_zeroes_every_limit_and_restoring_puts_the_old_ones_back() -> None:
    cq = _cq()
    ops = stop_borrowing(cq)
    assert ops is not None
    after = apply(cq, ops)
    limits = [
        r.get("borrowingLimit")
        for r in after["spec"]["resourceGroups"][0]["flavors"][0]["resources"]
    ]
    assert limits == [0, 0] and stopped(after) and stop_borrowing(after) is None
    back = apply(after, restore_borrowing(after))
    assert back["spec"] == cq["spec"] and not stopped(back) and restore_borrowing(back) is None


def test_a_queue_with_other_annotations_keeps_them() -> None:
    cq = _cq({"owner": "team-a"})
    after = apply(cq, stop_borrowing(cq))
    assert (
        after["metadata"]["annotations"]["owner"] == "team-a"
        and SAVED in after["metadata"]["annotations"]
    )
    back = apply(after, restore_borrowing(after))
    assert back == cq


def test_an_edit_in_between_fails_the_patch_instead_of_being_overwritten() -> None:
    cq = _cq()
    ops = stop_borrowing(cq)
    edited = copy.deepcopy(cq)
    edited["spec"]["resourceGroups"][0]["flavors"][0]["resources"][0]["nominalQuota"] = 16
    with pytest.raises(PatchTestFailed):
        apply(edited, ops)


def test_a_stopped_queue_no_budget_holds_is_orphaned() -> None:
    """A Budget deleted (or moved to another queue) leaves its queue to be restored."""
    queues = [
        {"metadata": {"name": n, "annotations": {SAVED: "[]"} if n != "free" else {}}}
        for n in ("held", "left", "free")
    ]
    assert [q["metadata"]["name"] for q in orphaned(queues, {"held", ""})] == ["left"]
