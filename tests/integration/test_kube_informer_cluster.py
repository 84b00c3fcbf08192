"""Shared informers on a real API server: list+watch follows creates, updates and
deletes; a dropped watch resumes without a relist; 410 Gone relists and converges;
bookmarks move the resourceVersion on while nothing in the watched scope changes."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from lightkube import Client
from lightkube.models.core_v1 import ObjectReference
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap, Event, Namespace

from quarterdeck.devcluster.session import RunningCluster
from quarterdeck.kube.informer import Informer, SharedInformers
from quarterdeck.kube.wait import wait_for
from quarterdeck.kube.watchstream import Target, list_all

pytestmark = pytest.mark.integration


def _cm(kube: Client, namespace: str, name: str, value: str = "1") -> str:
    made = kube.create(
        ConfigMap(metadata=ObjectMeta(name=name, namespace=namespace), data={"v": value})
    )
    assert made.metadata is not None and made.metadata.resourceVersion is not None
    return made.metadata.resourceVersion


def _data(informer: Informer, namespace: str, name: str) -> Any:
    obj = informer.get(namespace, name)
    return None if obj is None else obj.get("data", {}).get("v")


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def __call__(self, event_type: str, obj: dict[str, Any]) -> None:
        with self.lock:
            self.events.append((event_type, obj["metadata"]["name"]))

    def seen(self, event_type: str, name: str) -> bool:
        with self.lock:
            return (event_type, name) in self.events


@pytest.fixture
def informers(kube: Client) -> Iterator[SharedInformers]:
    shared = SharedInformers(kube)
    yield shared
    shared.stop()


def test_list_watch_follows_creates_updates_and_deletes(
    kube: Client, namespace: str, informers: SharedInformers
) -> None:
    _cm(kube, namespace, "before")
    informer = informers.informer(ConfigMap, namespace)
    assert informers.informer(ConfigMap, namespace) is informer  # one per (kind, namespace)
    recorder = Recorder()
    informer.add_handler(recorder)
    informers.start()
    assert informers.wait_synced(30)
    assert _data(informer, namespace, "before") == "1"
    assert recorder.seen("ADDED", "before")
    assert informer.list()[0]["kind"] == "ConfigMap"
    assert "managedFields" not in informer.list()[0]["metadata"]

    _cm(kube, namespace, "after")
    wait_for(lambda: recorder.seen("ADDED", "after"), "the create")
    kube.patch(ConfigMap, "after", {"data": {"v": "2"}}, namespace=namespace)
    wait_for(lambda: _data(informer, namespace, "after") == "2", "the update")
    assert recorder.seen("MODIFIED", "after")
    kube.delete(ConfigMap, "before", namespace=namespace)
    wait_for(lambda: recorder.seen("DELETED", "before"), "the delete")
    assert informer.get(namespace, "before") is None

    late = Recorder()  # a handler added later is told what is already there
    informer.add_handler(late)
    assert late.seen("ADDED", "after") and not late.seen("ADDED", "before")
    assert informer.lists == 1


def test_a_dropped_watch_resumes_from_the_last_version_without_a_relist(
    kube: Client, namespace: str, informers: SharedInformers
) -> None:
    informer = informers.informer(ConfigMap, namespace)
    informers.start()
    assert informers.wait_synced(30)
    _cm(kube, namespace, "one")
    wait_for(lambda: informer.get(namespace, "one"), "the first create")
    watches = informer.watches
    informer.interrupt()  # as a dropped connection would
    wait_for(lambda: informer.watches > watches, "a new watch")
    _cm(kube, namespace, "two")
    wait_for(lambda: informer.get(namespace, "two"), "the create after the drop")
    assert informer.lists == 1


def _event(kube: Client, namespace: str, name: str) -> None:
    kube.create(
        Event(
            metadata=ObjectMeta(name=name, namespace=namespace),
            involvedObject=ObjectReference(kind="ConfigMap", name="x", namespace=namespace),
            reason="Test",
            message="1",
        )
    )


def _compact_etcd(dev_cluster: RunningCluster) -> None:
    """Compact the dev cluster's etcd at its current revision, as the API server does every
    five minutes: every older resourceVersion is gone for good."""
    state = dev_cluster.kubeconfig.parent / "state.json"
    if not state.exists():
        pytest.skip("not a qd dev cluster: its etcd cannot be compacted from here")
    port = json.loads(state.read_text())["ports"]["etcd_client"]
    base = f"http://127.0.0.1:{port}/v3/kv"
    with httpx.Client(timeout=10) as http:
        revision = http.post(f"{base}/range", json={"key": "AA=="}).json()["header"]["revision"]
        http.post(f"{base}/compaction", json={"revision": revision}).raise_for_status()


def test_410_gone_relists_and_tells_handlers_what_they_missed(
    kube: Client, namespace: str, dev_cluster: RunningCluster
) -> None:
    # Events, because the API server serves their watches from etcd (it keeps no watch
    # cache for them), so an etcd compaction makes an old resourceVersion really gone
    for name in ("kept", "changed", "removed"):
        _event(kube, namespace, name)
    informer = Informer(kube, Event, namespace)
    recorder = Recorder()
    informer.add_handler(recorder)

    def run(stop: threading.Event) -> threading.Thread:
        thread = threading.Thread(target=informer.run, args=(stop,))
        thread.start()
        return thread

    stop = threading.Event()
    thread = run(stop)
    assert informer.wait_synced(30)
    stop.set()
    informer.interrupt()
    thread.join(30)
    assert not thread.is_alive()

    # while no watch runs the server moves on, and then forgets the version the informer
    # would resume from (as after a long outage)
    kube.patch(Event, "changed", {"message": "2"}, namespace=namespace)
    kube.delete(Event, "removed", namespace=namespace)
    _event(kube, namespace, "born")
    _compact_etcd(dev_cluster)

    stop = threading.Event()
    thread = run(stop)
    try:
        wait_for(lambda: informer.lists == 2, "the relist after 410 Gone", 30)
        names = {o["metadata"]["name"] for o in informer.list()}
        assert names == {"kept", "changed", "born"}
        changed = informer.get(namespace, "changed")
        assert changed is not None and changed["message"] == "2"
        assert recorder.seen("DELETED", "removed") and recorder.seen("MODIFIED", "changed")
        assert recorder.seen("ADDED", "born")
        assert not recorder.seen("MODIFIED", "kept")
        _event(kube, namespace, "later")  # and it watches on from the new list
        wait_for(lambda: informer.get(namespace, "later"), "a create after the relist")
    finally:
        stop.set()
        informer.interrupt()
        thread.join(30)


def test_bookmarks_advance_the_resource_version(kube: Client, namespace: str) -> None:
    quiet = f"{namespace}-quiet"
    kube.create(Namespace(metadata=ObjectMeta(name=quiet)))
    # a short watch makes the server send its bookmark soon (it sends one shortly before
    # a watch's timeout), so the test does not wait for the once-a-minute heartbeat
    informer = Informer(kube, ConfigMap, quiet, watch_timeout=(4, 4))
    stop = threading.Event()
    thread = threading.Thread(target=informer.run, args=(stop,))
    thread.start()
    try:
        assert informer.wait_synced(30)
        # The namespace is quiet only once controller-manager has published its
        # kube-root-ca.crt ConfigMap: that ADDED event, arriving late under load, moved
        # the version past `elsewhere` with no bookmark and failed the test twice.
        wait_for(lambda: informer.get(quiet, "kube-root-ca.crt"), "kube-root-ca.crt", 60)
        listed = int(informer.resource_version)
        elsewhere = int(_cm(kube, namespace, "elsewhere"))  # outside the watched namespace
        wait_for(lambda: int(informer.resource_version) >= elsewhere, "a bookmark", 60)
        assert informer.bookmarks >= 1
        assert int(informer.resource_version) > listed
        assert informer.list() == [] or all(  # nothing from the other namespace came in
            o["metadata"]["namespace"] == quiet for o in informer.list()
        )
        assert informer.lists == 1
    finally:
        stop.set()
        informer.interrupt()
        thread.join(30)
        kube.delete(Namespace, quiet)


def test_a_list_is_read_page_by_page(kube: Client, namespace: str) -> None:
    for index in range(5):
        _cm(kube, namespace, f"page-{index}")
    items, version = list_all(kube, Target(ConfigMap, namespace), page_size=2)
    # (kube-controller-manager adds kube-root-ca.crt to a new namespace when it gets to it)
    names = sorted(
        o["metadata"]["name"] for o in items if o["metadata"]["name"] != "kube-root-ca.crt"
    )
    assert names == [f"page-{i}" for i in range(5)]
    assert int(version) > 0
