"""Pure parts of the live-state cache: what a stale read looks like, which copy is newer."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from quarterdeck.delivery.livecache import cache_key, generation, slim, stale_absence
from quarterdeck.delivery.manifests import Key
from quarterdeck.delivery.sync import newer


def deploy(gen: int | None, rv: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "web", "namespace": "a"}
    if gen is not None:
        meta["generation"] = gen
    if rv is not None:
        meta["resourceVersion"] = rv
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta}


def test_dry_run_of_an_existing_object_carries_a_resource_version() -> None:
    assert stale_absence(deploy(1, rv="42"))
    assert not stale_absence(deploy(1))  # a create's dry-run has none
    assert not stale_absence({"metadata": {}})


def test_slim_drops_managed_fields_and_names_the_kind() -> None:
    obj = deploy(3)
    obj["metadata"]["managedFields"] = [{"manager": "x"}]
    obj["spec"] = {"replicas": 0}
    out = slim(("apps/v1", "Deployment"), obj)
    assert "managedFields" not in out["metadata"]
    assert out["metadata"]["generation"] == 3 and out["spec"] == {"replicas": 0}
    assert "managedFields" in obj["metadata"]  # the watched object is not changed
    bare = slim(("v1", "ConfigMap"), {"metadata": {"name": "c"}})  # as a list item comes
    assert (bare["apiVersion"], bare["kind"]) == ("v1", "ConfigMap")


def test_cache_key_takes_kind_from_the_watch_since_list_items_may_lack_it() -> None:
    item = {"metadata": {"name": "web", "namespace": "a"}}
    assert cache_key(("apps/v1", "Deployment"), item) == Key("apps", "Deployment", "a", "web")
    assert cache_key(("v1", "Namespace"), {"metadata": {"name": "a"}}) == Key(
        "", "Namespace", "", "a"
    )


@given(st.integers(0, 50), st.integers(0, 50))
def test_health_never_looks_at_a_copy_older_than_the_applied_one(known: int, polled: int) -> None:
    chosen = newer(deploy(known), deploy(polled))
    assert generation(chosen) == max(known, polled)


def test_without_a_known_copy_the_polled_one_is_taken() -> None:
    assert newer(None, deploy(2)) == deploy(2)
    assert generation(None) == 0
