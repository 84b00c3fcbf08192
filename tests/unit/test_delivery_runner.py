"""Which keys a watch event wakes in the delivery operator's work queue."""

from __future__ import annotations

import threading
from typing import Any

from quarterdeck.delivery.dependencies import DependencyIndex
from quarterdeck.delivery.inventory import Owner
from quarterdeck.delivery.runner import APPLICATION, SOURCE, Runner, uses_source
from quarterdeck.kube.workqueue import WorkQueue


class Objects:
    """A store of plain objects, as an informer's cache holds them."""

    def __init__(self, *objects: dict[str, Any]) -> None:
        self.objects = list(objects)

    def list(self) -> list[dict[str, Any]]:
        return list(self.objects)

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        return next(
            (o for o in self.objects if o["metadata"] == {"namespace": namespace, "name": name}),
            None,
        )


def app(name: str, source: str = "repo", deps: tuple[str, ...] = (), ns: str = "team") -> Any:
    spec: dict[str, Any] = {"sourceRef": {"name": source}}
    if deps:
        spec["dependsOn"] = [{"name": d} for d in deps]
    return {"metadata": {"namespace": ns, "name": name}, "spec": spec}


def runner(apps: Objects) -> Any:
    r: Any = Runner.__new__(Runner)  # only the wake-up logic: no cluster, no threads
    r.queue, r.apps, r._heal, r._lock = WorkQueue("test"), apps, set(), threading.Lock()
    r.dependencies = DependencyIndex()
    for obj in apps.list():  # what the informer replays to a new handler
        r._on_application("ADDED", obj)
    drain(r.queue)
    return r


def drain(queue: WorkQueue[Any]) -> set[Any]:
    keys = set()
    while (key := queue.get(timeout=0.0)) is not None:
        keys.add(key)
        queue.done(key)
    return keys


def test_references_are_resolved_in_the_objects_namespace() -> None:
    assert uses_source(app("web"), Owner("team", "repo"))
    assert not uses_source(app("web"), Owner("other", "repo"))
    cross = app("web")
    cross["spec"]["sourceRef"]["namespace"] = "shared"
    assert uses_source(cross, Owner("shared", "repo"))
    r = runner(Objects(app("db"), app("web", deps=("db",)), app("db", ns="other")))
    r._on_application("MODIFIED", app("db", ns="other"))
    assert drain(r.queue) == {(APPLICATION, "other", "db")}  # web waits for team/db only


def test_a_source_event_wakes_the_source_and_the_applications_using_it() -> None:
    r = runner(Objects(app("web"), app("api"), app("other", source="elsewhere")))
    r._on_source("MODIFIED", {"metadata": {"namespace": "team", "name": "repo"}})
    assert drain(r.queue) == {
        (SOURCE, "team", "repo"),
        (APPLICATION, "team", "web"),
        (APPLICATION, "team", "api"),
    }


def test_an_application_event_wakes_it_and_its_dependents_and_an_edit_asks_for_a_heal() -> None:
    r = runner(Objects(app("db"), app("web", deps=("db",)), app("lone")))
    r._on_application("MODIFIED", app("db"))
    assert drain(r.queue) == {(APPLICATION, "team", "db"), (APPLICATION, "team", "web")}
    r._on_edit(Owner("team", "lone"))
    assert drain(r.queue) == {(APPLICATION, "team", "lone")}
    assert r._heal == {Owner("team", "lone")}


def test_a_deleted_application_still_wakes_those_waiting_for_it() -> None:
    r = runner(Objects(app("db"), app("web", deps=("db",))))
    r._on_application("DELETED", app("db"))
    assert drain(r.queue) == {(APPLICATION, "team", "db"), (APPLICATION, "team", "web")}
    r._on_application("MODIFIED", app("web"))  # web no longer depends on db
    drain(r.queue)
    r._on_application("ADDED", app("db"))
    assert drain(r.queue) == {(APPLICATION, "team", "db")}
