"""ClusterSet decisions: selection, waves, concurrency, stopping on an unhealthy wave."""

from __future__ import annotations

from typing import Any

import msgspec

from quarterdeck.api import delivery as dapi
from quarterdeck.api.fleet import ClusterSet, decode_cluster_set
from quarterdeck.fleet import rollout
from quarterdeck.fleet.rollout import Member, decide


def _set(selector: dict[str, Any] | None = None, **rollout_: Any) -> ClusterSet:
    return decode_cluster_set(
        {
            "metadata": {"name": "base", "namespace": "ops", "uid": "u"},
            "spec": {
                "clusterSelector": selector or {},
                "sourceRef": {"name": "repo"},
                "template": {"sourceRef": {"name": "ignored"}, "path": "baseline"},
                "rollout": rollout_,
            },
        }
    )


def _app(
    cs: ClusterSet, cluster: str, revision: str, ready: str = "True", reason: str = "Synced"
) -> dapi.Application:
    status = {
        "observedGeneration": 1,
        "lastAppliedRevision": revision if ready == "True" else "",
        "lastAttemptedRevision": revision,
        "conditions": [{"type": "Ready", "status": ready, "reason": reason, "message": reason}],
    }
    raw = {
        "metadata": {
            "name": rollout.app_name("base", cluster),
            "namespace": "ops",
            "generation": 1,
            "annotations": {rollout.HASH_ANNOTATION: rollout.template_hash(cs)},
        },
        "spec": {
            "sourceRef": {"name": "repo"},
            "revision": revision,
            "destination": {"cluster": cluster},
        },
        "status": status,
    }
    return dapi.decode_application(raw)


MEMBERS = [
    Member("a", {"env": "prod", "wave": "1"}),
    Member("b", {"env": "prod", "wave": "2"}),
    Member("c", {"env": "dev", "wave": "1"}),
    Member("d", {"env": "prod", "wave": "10"}),
]


def test_only_matching_clusters_are_stamped_and_pinned_to_the_revision() -> None:
    cs = _set({"matchLabels": {"env": "prod"}})
    d = decide(cs, MEMBERS, "r1", {})
    assert sorted(s.cluster for s in d.stamps) == ["a", "b", "d"]
    spec = d.stamps[0].spec
    assert spec.revision == "r1" and spec.source_ref.name == "repo" and spec.path == "baseline"
    assert spec.destination.cluster == d.stamps[0].cluster


def test_a_selector_matching_nothing_says_so() -> None:
    d = decide(_set({"matchLabels": {"env": "staging"}}), MEMBERS, "r1", {})
    assert d.stamps == [] and d.reason == "NoClustersSelected" and d.ready == "False"
    assert "env=staging matches none of the 4 registered clusters" in d.message


def test_a_deselected_cluster_loses_its_application() -> None:
    cs = _set({"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}]})
    d = decide(cs, MEMBERS, "r1", {"c": _app(cs, "c", "r1")})
    assert d.delete == ["base-c"]


def test_waves_go_in_numeric_order_one_at_a_time() -> None:
    cs = _set({"matchLabels": {"env": "prod"}}, waveLabel="wave")
    d = decide(cs, MEMBERS, "r1", {})
    assert [s.cluster for s in d.stamps] == ["a"]  # wave 1 only
    d = decide(cs, MEMBERS, "r1", {"a": _app(cs, "a", "r1")})
    assert [s.cluster for s in d.stamps] == ["b"]  # wave 2 before wave 10
    apps = {"a": _app(cs, "a", "r1"), "b": _app(cs, "b", "r1"), "d": _app(cs, "d", "r1")}
    d = decide(cs, MEMBERS, "r1", apps)
    assert d.stamps == [] and d.ready == "True" and d.reason == "RolledOut"


def test_an_unhealthy_wave_stops_the_rollout_before_the_next() -> None:
    cs = _set({"matchLabels": {"env": "prod"}}, waveLabel="wave")
    apps = {
        "a": _app(cs, "a", "r2", ready="False", reason="HealthCheckFailed"),
        "b": _app(cs, "b", "r1"),
    }
    d = decide(cs, MEMBERS, "r2", apps)
    assert d.stamps == [] and d.stalled and d.reason == "WaveUnhealthy"
    assert "stopped at wave 1" in d.message and "a (HealthCheckFailed" in d.message
    rows = {r.cluster: r for r in d.clusters}
    assert (
        rows["a"].state == "Unhealthy"
        and rows["b"].state == "Pending"
        and rows["b"].revision == "r1"
    )


def test_at_most_n_clusters_move_at_once() -> None:
    members = [Member(f"m{i}", {}) for i in range(5)]
    cs = _set(maxConcurrent=2)
    d = decide(cs, members, "r1", {})
    assert [s.cluster for s in d.stamps] == ["m0", "m1"]
    moving = {
        "m0": _app(cs, "m0", "r1", ready="Unknown", reason="Progressing"),
        "m1": _app(cs, "m1", "r1"),
    }
    d = decide(cs, members, "r1", moving)
    assert [s.cluster for s in d.stamps] == ["m2"]


def test_an_unreachable_cluster_holds_the_wave_as_unknown() -> None:
    cs = _set(waveLabel="wave")
    apps = {
        "a": _app(cs, "a", "r1", ready="Unknown", reason="ClusterUnreachable"),
        "c": _app(cs, "c", "r1"),
    }
    d = decide(cs, MEMBERS, "r1", apps)
    assert {r.cluster: r.state for r in d.clusters}["a"] == "Unknown"
    assert d.stamps == [] and d.reason == "Progressing"


def test_a_template_change_is_a_new_rollout() -> None:
    cs = _set()
    apps = {m.name: _app(cs, m.name, "r1") for m in MEMBERS}
    changed = msgspec.structs.replace(
        cs,
        spec=msgspec.structs.replace(
            cs.spec, template=msgspec.structs.replace(cs.spec.template, path="v2")
        ),
    )
    assert len(decide(changed, MEMBERS, "r1", apps).stamps) == 4
