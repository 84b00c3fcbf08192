"""Which cache changes a live page is told about: pure decisions over plain data.

An open page keeps one server-sent-event stream (``/events?path=PAGE``). A change to a
cached object (its kind, namespace and name) is sent to that stream only if it can
alter the page (:func:`asks_for` returns None otherwise) and the user passes the same
SubjectAccessReview questions as the page itself asks for that object, so team-a's
stream never even learns that one of team-b's objects changed. The page then fetches
its own fragment, rendered from the cache like any page view, and swaps it in.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from quarterdeck.dashboard.access import Ask
from quarterdeck.dashboard.cache import DELIVERY, QUEUEING, SHOWBACK

QUEUE_KINDS = frozenset({"clusterqueues", "localqueues", "workloads"})
GPU_KINDS = frozenset({"nodes", "pods"})
SHOWBACK_KINDS = frozenset({"usagerecords", "pricings", "budgets"})
OVERVIEW_KINDS = frozenset({"applications"}) | QUEUE_KINDS | GPU_KINDS
NAMES_SENT = 20  # objects named in one event (the rest are counted)


@dataclass(frozen=True, order=True)
class Change:
    """An object of a cached kind (by its plural) was added, changed or deleted."""

    kind: str
    namespace: str
    name: str


@dataclass(frozen=True)
class Interest:
    """The kinds a page shows, narrowed to one object when the page is about one."""

    kinds: frozenset[str]
    namespace: str = ""
    name: str = ""


def interest(path: str) -> Interest | None:
    """What the page at `path` shows; None for a path that is no live page."""
    parts = [p for p in path.split("?", 1)[0].split("/") if p]
    match parts:
        case []:
            return Interest(OVERVIEW_KINDS)
        case ["applications"]:
            return Interest(frozenset({"applications"}))
        case ["applications", namespace, name]:
            return Interest(frozenset({"applications", "sources"}), namespace, name)
        case ["queues"]:
            return Interest(QUEUE_KINDS)
        case ["queues", name]:
            return Interest(QUEUE_KINDS, name=name)
        case ["gpus"]:
            return Interest(GPU_KINDS)
        case ["showback"]:
            return Interest(SHOWBACK_KINDS)
    return None


def asks_for(want: Interest, change: Change) -> tuple[Ask, ...] | None:
    """The questions whose yes lets the user see `change` on the page (all must be yes,
    as the page asks them); None when the change cannot alter that page."""
    if change.kind not in want.kinds:
        return None
    ns, name = change.namespace, change.name
    match change.kind:
        case "applications" if want.name:
            if (ns, name) != (want.namespace, want.name):
                return None
            return (Ask("get", DELIVERY, "applications", ns, name),)
        case "applications":
            return (Ask("list", DELIVERY, "applications", ns),)
        case "sources":  # the commit message and author of the one Application's revision
            if ns != want.namespace:
                return None
            return (Ask("get", DELIVERY, "applications", ns, want.name),)
        case "clusterqueues":
            if want.name and name != want.name:
                return None
            return (Ask("get", QUEUEING, "clusterqueues", "", name),)
        case "workloads" | "localqueues":  # a queue's pending list, counted per namespace
            return (Ask("list", QUEUEING, "workloads", ns),)
        case "nodes" | "pods":
            return (Ask("list", "", "nodes"), Ask("list", "", "pods"))
        case "budgets":  # the showback page's budget table, shown to who may list them
            return (Ask("list", SHOWBACK, "usagerecords"), Ask("list", SHOWBACK, "budgets"))
    return (Ask("list", SHOWBACK, "usagerecords"),)


def event(name: str, changes: Iterable[Change] = ()) -> str:
    """One server-sent event: `name`, with the changed objects (the first NAMES_SENT of
    them by kind and name, and how many in all) as its JSON data."""
    shown = sorted(set(changes))
    data = {"changes": [{"kind": c.kind, "namespace": c.namespace, "name": c.name}
                        for c in shown[:NAMES_SENT]], "total": len(shown)}
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"
