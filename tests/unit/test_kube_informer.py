"""What a relist tells handlers, and what the cache keeps of an object."""

from __future__ import annotations

from typing import Any

from quarterdeck.kube.informer import key_of, replace_events, slim


def cm(name: str, rv: str, namespace: str = "a") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace, "resourceVersion": rv}}


def test_a_relist_reports_what_the_watch_missed_and_nothing_else() -> None:
    old = {key_of(o): o for o in (cm("kept", "1"), cm("changed", "2"), cm("gone", "3"))}
    new = {key_of(o): o for o in (cm("kept", "1"), cm("changed", "7"), cm("born", "8"))}
    changes = {(t, o["metadata"]["name"]) for t, o in replace_events(old, new)}
    assert changes == {("MODIFIED", "changed"), ("ADDED", "born"), ("DELETED", "gone")}


def test_objects_are_kept_without_managed_fields_and_with_their_kind() -> None:
    obj = cm("x", "1")
    obj["metadata"]["managedFields"] = [{"manager": "kubectl"}]
    kept = slim(obj, "v1", "ConfigMap")
    assert kept["apiVersion"] == "v1" and kept["kind"] == "ConfigMap"
    assert "managedFields" not in kept["metadata"]
    assert key_of(kept) == ("a", "x")
    assert key_of({"metadata": {"name": "node-1"}}) == ("", "node-1")  # cluster-scoped


def test_a_failing_handler_is_logged_and_the_next_handler_still_gets_the_event() -> None:
    """The failure's log line must not itself raise (structlog's own `event` argument)."""
    from typing import cast

    from lightkube import Client
    from lightkube.resources.core_v1 import ConfigMap

    from quarterdeck.kube.informer import Informer

    informer = Informer(cast(Client, None), ConfigMap, "team-a")
    seen: list[str] = []

    def broken(event_type: str, obj: dict[str, Any]) -> None:
        raise ValueError("a controller's bug")

    informer.add_handler(broken)
    informer.add_handler(lambda event_type, obj: seen.append(event_type))
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": "a", "namespace": "team-a", "resourceVersion": "1"}}
    informer._apply("ADDED", cm)  # what a watch event does, without an API server
    assert seen == ["ADDED"]
    assert informer.get("team-a", "a") == cm
