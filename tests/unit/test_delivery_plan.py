"""plan(): staged apply order, ownership-safe prune, guards; with hypothesis properties."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quarterdeck.delivery.inventory import (
    PRUNE_ANNOTATION,
    Entry,
    Owner,
    entries_of,
    next_inventory,
    owns,
    stale,
)
from quarterdeck.delivery.manifests import Key, Obj, key_of
from quarterdeck.delivery.plan import PlanOptions, plan
from quarterdeck.delivery.stages import CLUSTER_SCOPED, cluster_scoped_kinds, with_namespace

APP = Owner("team-a", "web")
OTHER = Owner("team-b", "api")


def obj(
    kind: str,
    name: str,
    ns: str = "team-a",
    api: str = "v1",
    owner: Owner | None = None,
    **meta: Any,
) -> Obj:
    metadata: dict[str, Any] = {"name": name, **meta}
    if ns:
        metadata["namespace"] = ns
    if owner:
        metadata["labels"] = owner.labels()
    return {"apiVersion": api, "kind": kind, "metadata": metadata}


CRD = obj("CustomResourceDefinition", "widgets.example.com", "", "apiextensions.k8s.io/v1")
NS = obj("Namespace", "team-a", "")
ROLE = obj("ClusterRole", "reader", "", "rbac.authorization.k8s.io/v1")
CM = obj("ConfigMap", "settings")
DEPLOY = obj("Deployment", "web", api="apps/v1")
WIDGET = obj("Widget", "w1", api="example.com/v1")


def test_waves_put_crds_and_namespaces_first_then_cluster_then_namespaced() -> None:
    p = plan([WIDGET, DEPLOY, ROLE, CM, NS, CRD], {}, [], APP)
    kinds = [[a.key.kind for a in wave] for wave in p.waves]
    assert kinds == [
        ["Namespace", "CustomResourceDefinition"],
        ["ClusterRole"],
        ["ConfigMap", "Deployment", "Widget"],
    ]
    assert all(a.kind == "create" for a in p.applies)
    assert all(owns(APP, a.obj) for a in p.applies)


def test_existing_objects_are_updates() -> None:
    p = plan([CM], {key_of(CM): obj("ConfigMap", "settings", owner=APP)}, [], APP)
    assert [a.kind for a in p.applies] == ["update"]


def test_prune_removes_owned_stale_objects_in_reverse_stage_order() -> None:
    old = [
        obj("Namespace", "old", "", owner=APP),
        obj("ConfigMap", "gone", owner=APP),
        obj("ClusterRole", "r", "", "rbac.authorization.k8s.io/v1", owner=APP),
    ]
    live = {key_of(o): o for o in old}
    p = plan([CM, DEPLOY, NS, ROLE, CRD], live, entries_of(old), APP, PlanOptions(max_share=1.0))
    assert p.ok
    assert [a.key.kind for a in p.prunes] == ["ConfigMap", "ClusterRole", "Namespace"]


def test_prune_skips_foreign_opted_out_and_gone_objects() -> None:
    foreign = obj("ConfigMap", "foreign", owner=OTHER)
    kept = obj("ConfigMap", "kept", owner=APP, annotations={PRUNE_ANNOTATION: "disabled"})
    vanished = obj("ConfigMap", "vanished", owner=APP)
    live = {key_of(foreign): foreign, key_of(kept): kept}
    p = plan(
        [CM, DEPLOY], live, entries_of([foreign, kept, vanished]), APP, PlanOptions(max_share=1.0)
    )
    assert p.prunes == ()
    reasons = {s.entry.key.name: s.reason for s in p.skipped}
    assert reasons == {
        "foreign": "not owned by team-a/web (owner labels differ)",
        "kept": "prune disabled by annotation",
    }
    assert [e.key.name for e in p.gone] == ["vanished"]


def test_guard_refuses_to_prune_everything_unless_allowed() -> None:
    old = [obj("ConfigMap", "a", owner=APP), obj("ConfigMap", "b", owner=APP)]
    live = {key_of(o): o for o in old}
    p = plan([], live, entries_of(old), APP)
    assert not p.ok and "refusing to prune all 2 objects" in p.errors[0]
    assert plan([], live, entries_of(old), APP, PlanOptions(allow_empty=True)).ok


def test_guard_refuses_to_prune_more_than_the_share() -> None:
    old = [obj("ConfigMap", n, owner=APP) for n in "abcd"]
    live = {key_of(o): o for o in old}
    p = plan([old[0]], live, entries_of(old), APP, PlanOptions(max_share=0.5))
    assert p.errors == (
        "refusing to prune 3 of 4 objects, more than 50% (raise pruneOptions.maxShare to allow)",
    )
    assert plan([old[0], old[1]], live, entries_of(old), APP).ok


def test_objects_of_another_application_are_not_taken_over() -> None:
    live = {key_of(CM): obj("ConfigMap", "settings", owner=OTHER)}
    p = plan([CM], live, [], APP)
    assert p.errors == (
        "ConfigMap team-a/settings is owned by application team-b/api; refusing to take it over",
    )


def test_prune_off_keeps_stale_objects_in_inventory() -> None:
    old = obj("ConfigMap", "old", owner=APP)
    p = plan([CM], {key_of(old): old}, entries_of([old]), APP, PlanOptions(prune=False))
    assert p.prunes == () and p.skipped[0].reason == "prune is off for this application"
    after = next_inventory(entries_of([CM]), [s.entry for s in p.skipped])
    assert [e.key.name for e in after] == ["old", "settings"]


def test_inventory_arithmetic() -> None:
    a, b = Entry(Key("", "ConfigMap", "x", "a"), "v1"), Entry(Key("", "ConfigMap", "x", "b"), "v1")
    assert stale([a, b], [a.key]) == [b]
    assert next_inventory([a], []) == [a]


def test_namespaces_are_filled_for_namespaced_kinds_only() -> None:
    assert with_namespace(obj("ConfigMap", "x", ""), "dflt", CLUSTER_SCOPED)["metadata"] == {
        "name": "x",
        "namespace": "dflt",
    }
    assert (
        "namespace"
        not in with_namespace(
            obj("ClusterRole", "r", "x", "rbac.authorization.k8s.io/v1"), "dflt", CLUSTER_SCOPED
        )["metadata"]
    )
    crd = {**CRD, "spec": {"group": "example.com", "scope": "Cluster", "names": {"kind": "Gadget"}}}
    assert ("example.com", "Gadget") in cluster_scoped_kinds([crd], CLUSTER_SCOPED)


# --- properties --------------------------------------------------------------------------

KINDS = [
    ("v1", "ConfigMap", True),
    ("apps/v1", "Deployment", True),
    ("v1", "Namespace", False),
    ("rbac.authorization.k8s.io/v1", "ClusterRole", False),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition", False),
    ("example.com/v1", "Widget", True),
]
owners = st.sampled_from([APP, OTHER, None])


@st.composite
def objects(draw: st.DrawFn) -> Obj:
    api, kind, namespaced = draw(st.sampled_from(KINDS))
    name = draw(st.sampled_from(["a", "b", "c", "d"]))
    owner = draw(owners)
    ann = {PRUNE_ANNOTATION: "disabled"} if draw(st.booleans()) and draw(st.booleans()) else {}
    return obj(kind, name, "ns" if namespaced else "", api, owner, annotations=ann)


def _unique(items: list[Obj]) -> list[Obj]:
    return list({key_of(o): o for o in items}.values())


# generation is slow on a loaded machine: that is not a failure of the property
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    desired=st.lists(objects(), max_size=8).map(_unique),
    live=st.lists(objects(), max_size=12).map(_unique),
    extra_inventory=st.lists(objects(), max_size=6),
    share=st.floats(0, 1),
    allow_empty=st.booleans(),
)
def test_plan_never_prunes_what_it_does_not_own_and_respects_stages(
    desired: list[Obj],
    live: list[Obj],
    extra_inventory: list[Obj],
    share: float,
    allow_empty: bool,
) -> None:
    live_map = {key_of(o): o for o in live}
    inventory = entries_of(live + extra_inventory)
    p = plan(
        desired, live_map, inventory, APP, PlanOptions(max_share=share, allow_empty=allow_empty)
    )
    desired_keys = {key_of(o) for o in desired}
    inventory_keys = {e.key for e in inventory}
    for action in p.prunes:
        current = live_map[action.key]
        assert owns(APP, current)
        assert action.key in inventory_keys and action.key not in desired_keys
        assert PRUNE_ANNOTATION not in (current["metadata"].get("annotations") or {})
    stages = [a.stage for a in p.applies]
    assert stages == sorted(stages)
    assert [a.stage for a in p.prunes] == sorted((a.stage for a in p.prunes), reverse=True)
    assert {a.key for a in p.applies} == desired_keys
    if not desired and p.prunes:
        assert allow_empty or not p.ok


def test_owned_job_keeps_the_labels_the_api_server_would_have_given_it() -> None:
    from quarterdeck.delivery.inventory import Owner, stamp

    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "migrate"},
        "spec": {"template": {"metadata": {"labels": {"app": "db"}}}},
    }
    labels = stamp(job, Owner("ns", "app"))["metadata"]["labels"]
    assert labels["job-name"] == labels["batch.kubernetes.io/job-name"] == "migrate"
    assert labels["app"] == "db" and labels["delivery.quarterdeck.dev/name"] == "app"
    job["metadata"]["labels"] = {"team": "a"}  # labels of its own: the server copies nothing
    assert "job-name" not in stamp(job, Owner("ns", "app"))["metadata"]["labels"]
