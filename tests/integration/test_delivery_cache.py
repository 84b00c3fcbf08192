"""The live-state cache against a real API server: it answers reads, and a stale one
cannot make a sync take over an object it has not seen yet."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from lightkube import Client
from lightkube.resources.core_v1 import ConfigMap

from quarterdeck.delivery.cluster import Cluster
from quarterdeck.delivery.inventory import OWNER_NAME_LABEL, Owner
from quarterdeck.delivery.livecache import LiveCache
from quarterdeck.delivery.manifests import Key, Obj
from quarterdeck.delivery.sync import SyncOptions, sync
from quarterdeck.kube.wait import wait_for

pytestmark = pytest.mark.integration


def cm(name: str, value: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name},
        "data": {"a": value},
    }


def eventually(check: Callable[[], bool], timeout: float = 30.0) -> None:
    wait_for(check, "the cache to answer", timeout, interval=0.05)


def test_cache_serves_reads_and_a_stale_absence_changes_nothing(
    kube: Client, namespace: str
) -> None:
    cluster = Cluster(kube)
    cache = LiveCache(cluster, namespace)
    cluster.cache = cache
    opts = SyncOptions(namespace=namespace, timeout=30)
    seen = Key("", "ConfigMap", namespace, "seen")
    eventually(lambda: cache.lookup("v1", seen)[0])  # the first lookup starts the watch

    first = sync(cluster, [cm("seen", "1")], [], Owner(namespace, "a"), opts)
    assert first.ok and first.created == [seen]
    eventually(lambda: cache.lookup("v1", seen)[1] is not None)
    again = sync(cluster, [cm("seen", "1")], first.inventory, Owner(namespace, "a"), opts)
    assert again.ok and again.unchanged == [seen]  # planned from the cache: nothing to send

    cache.stop.set()  # from here on the cache misses what happens
    other = sync(Cluster(kube), [cm("shared", "1")], [], Owner(namespace, "b"), opts)
    assert other.ok
    out = sync(cluster, [cm("shared", "2")], [], Owner(namespace, "a"), opts)
    assert out.errors and "not seen yet" in out.errors[0]
    live = kube.get(ConfigMap, "shared", namespace=namespace)
    assert live.data == {"a": "1"}
    assert (live.metadata.labels or {})[OWNER_NAME_LABEL] == "b"
