"""Which Applications are asked to sync again when their cluster answers again."""

from __future__ import annotations

from typing import Any

import pytest

from quarterdeck.fleet.returning import owed_a_sync, request_value


def _app(cluster: str, ready: str | None, suspend: bool = False, **stalled: str) -> dict[str, Any]:
    conds = [] if ready is None else [{"type": "Ready", "status": ready, "reason": "x"}]
    if stalled:
        conds.append({"type": "Stalled", "status": "True", **stalled})
    return {
        "metadata": {"name": "a", "namespace": "n"},
        "spec": {"destination": {"cluster": cluster}, "suspend": suspend},
        "status": {"conditions": conds},
    }


@pytest.mark.parametrize(
    ("app", "owed"),
    [
        (_app("east", "Unknown"), True),  # waited for the cluster
        (_app("east", "False", reason="RetriesExhausted"), True),  # gave up against it
        (_app("east", None), True),  # never synced
        (_app("east", "True"), False),  # nothing owed
        (_app("west", "Unknown"), False),  # another cluster's
        (_app("east", "Unknown", suspend=True), False),  # suspended stays so
    ],
)
def test_only_applications_of_the_returning_cluster_that_are_not_ready_are_owed(
    app: dict[str, Any], owed: bool
) -> None:
    assert owed_a_sync(app, "east") is owed


def test_each_return_writes_a_new_value_that_says_why() -> None:
    first, second = request_value(1.0, "east"), request_value(2.0, "east")
    assert first != second and first.endswith("cluster east reachable again")


def test_remote_self_heal_watches_the_inventory_kinds_of_applications_aimed_elsewhere() -> None:
    from quarterdeck.fleet.remoteheal import watched_kinds

    inventory = [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "a", "namespace": "n"},
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "b", "namespace": "n"},
        {"apiVersion": "apps/v1", "kind": "Deployment", "name": "d", "namespace": "n"},
    ]

    def app(cluster: str, **spec: Any) -> dict[str, Any]:
        body = {"destination": {"cluster": cluster}, **spec}
        return {"spec": body, "status": {"inventory": inventory}}

    assert watched_kinds(app("east")) == (
        "east",
        [
            {"apiVersion": "apps/v1", "kind": "Deployment"},
            {"apiVersion": "v1", "kind": "ConfigMap"},
        ],
    )
    assert watched_kinds(app("")) == ("", [])  # the management cluster's own self-heal
    assert watched_kinds(app("east", selfHeal=False)) == ("", [])
    assert watched_kinds(app("east", suspend=True)) == ("", [])
