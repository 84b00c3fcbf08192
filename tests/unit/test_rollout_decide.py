"""Rollout decisions, pure: first rollout, canary steps by replica ratio, abort on a breach
(stable keeps everything), blue/green switch, HTTPRoute weights."""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from quarterdeck.api.rollout import Measurement, Rollout, decode_rollout
from quarterdeck.rollout.decide import HASH_ANNOTATION, ROLE_LABEL, decide, split, template_hash


def rollout(
    image: str = "web:2", strategy: dict[str, Any] | None = None, status: Any = None
) -> Rollout:
    made = decode_rollout(
        {
            "metadata": {"name": "web", "namespace": "team", "uid": "u1", "generation": 2},
            "spec": {
                "replicas": 4,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": image}]},
                },
                "strategy": strategy
                or {"canary": {"steps": [{"setWeight": 25}, {"setWeight": 50}]}},
                "analysis": {
                    "metrics": [
                        {"name": "errors", "prometheus": {"address": "http://p", "query": "q"}}
                    ]
                },
            },
        }
    )
    return msgspec.structs.replace(made, status=status)


def live(obj: dict[str, Any], ready: bool = True) -> dict[str, Any]:
    """A Deployment as the API server would show it once rolled out (or not)."""
    n = obj["spec"]["replicas"]
    return {
        **obj,
        "metadata": {**obj["metadata"], "generation": 1},
        "status": {
            "observedGeneration": 1,
            "replicas": n,
            "updatedReplicas": n if ready else 0,
            "readyReplicas": n if ready else 0,
        },
    }


def by_name(objs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objs}


def image(obj: dict[str, Any]) -> str:
    return str(obj["spec"]["template"]["spec"]["containers"][0]["image"])


def stable_v1() -> tuple[Rollout, dict[str, Any]]:
    """A Rollout whose stable Deployment runs web:1 at full size."""
    first = decide(rollout("web:1"), None, None, [], 0.0, 0.0, 0.0)
    stable = live(first.apply[0])
    settled = decide(
        msgspec.structs.replace(rollout("web:1"), status=first.status),
        stable,
        None,
        [],
        1.0,
        0.0,
        0.0,
    )
    assert settled.status.phase == "Healthy"
    return msgspec.structs.replace(rollout("web:2"), status=settled.status), stable


def test_first_rollout_creates_stable_at_full_size_and_is_healthy_once_available() -> None:
    first = decide(rollout("web:1"), None, None, [], 0.0, 0.0, 0.0)
    (stable,) = first.apply
    assert stable["metadata"]["name"] == "web" and stable["spec"]["replicas"] == 4
    assert stable["spec"]["selector"]["matchLabels"] == {"app": "web", ROLE_LABEL: "stable"}
    assert stable["spec"]["template"]["metadata"]["labels"][ROLE_LABEL] == "stable"
    assert stable["metadata"]["ownerReferences"][0]["uid"] == "u1"
    assert first.status.phase == "Progressing"
    stable_v1()


def test_canary_steps_by_replica_ratio_then_abort_on_breach_keeps_stable() -> None:
    r, stable = stable_v1()
    step1 = decide(r, stable, None, [], 2.0, 0.0, 0.0)
    made = by_name(step1.apply)
    assert made["web"]["spec"]["replicas"] == 3 and made["web-canary"]["spec"]["replicas"] == 1
    assert image(made["web"]) == "web:1" and image(made["web-canary"]) == "web:2"
    assert not step1.measure  # the canary is not available yet
    r = msgspec.structs.replace(r, status=step1.status)
    canary = live(made["web-canary"])
    asks = decide(r, live(made["web"]), canary, [], 3.0, 0.0, 0.0)
    assert asks.measure
    good = Measurement(metric="errors", phase="Successful", value="result 0", step=0)
    step2 = decide(r, live(made["web"]), canary, [good], 3.0, 0.0, 0.0)
    assert step2.status.current_step == 1 and step2.status.weight == 50
    made = by_name(step2.apply)
    assert made["web"]["spec"]["replicas"] == 2 and made["web-canary"]["spec"]["replicas"] == 2
    r = msgspec.structs.replace(r, status=step2.status)
    bad = Measurement(metric="errors", phase="Failed", value="result 0.4 (result < 0.05)", step=1)
    aborted = decide(r, live(made["web"]), live(made["web-canary"]), [bad], 4.0, 0.0, 0.0)
    assert aborted.status.phase == "Degraded"
    assert (
        aborted.status.message
        == "aborted at step 2: analysis errors breached: result 0.4 (result < 0.05)"
    )
    assert aborted.delete == ["web-canary"]
    (kept,) = aborted.apply
    assert kept["spec"]["replicas"] == 4 and image(kept) == "web:1"
    assert aborted.events == [("RolloutAborted", aborted.status.message)]
    # the same revision is not tried again; stable keeps everything until Git changes
    again = decide(msgspec.structs.replace(r, status=aborted.status), kept, None, [], 9.0, 0.0, 0.0)
    assert again.status.phase == "Degraded" and by_name(again.apply)["web"]["spec"]["replicas"] == 4


def test_blue_green_switches_the_service_only_after_analysis_and_promotion() -> None:
    strategy = {"blueGreen": {"activeService": "web"}}
    r, stable = stable_v1()
    r = msgspec.structs.replace(rollout("web:2", strategy), status=r.status)
    preview = decide(r, stable, None, [], 2.0, 0.0, 0.0)
    made = by_name(preview.apply)
    assert made["web"]["spec"]["replicas"] == 4 and made["web-canary"]["spec"]["replicas"] == 4
    assert preview.service_role == "stable"
    r = msgspec.structs.replace(r, status=preview.status)
    good = Measurement(metric="errors", phase="Successful", step=0)
    switched = decide(r, stable, live(made["web-canary"]), [good], 3.0, 0.0, 0.0)
    assert switched.service_role == "canary"  # the preview serves while stable updates
    new_stable = by_name(switched.apply)["web"]
    assert image(new_stable) == "web:2"
    r = msgspec.structs.replace(r, status=switched.status)
    done = decide(r, live(new_stable), live(made["web-canary"]), [], 4.0, 0.0, 0.0)
    assert done.status.phase == "Healthy" and done.service_role == "stable"
    assert done.delete == ["web-canary"] and done.events[0][0] == "RolloutCompleted"
    assert done.status.stable_revision == template_hash(r.spec.template)
    assert new_stable["metadata"]["annotations"][HASH_ANNOTATION] == done.status.stable_revision


def test_http_route_weights_keep_stable_at_full_size() -> None:
    routing = {"httpRoute": {"name": "web", "stableService": "web", "canaryService": "web-canary"}}
    r, stable = stable_v1()
    strategy = {"canary": {"steps": [{"setWeight": 10}], "trafficRouting": routing}}
    r = msgspec.structs.replace(rollout("web:2", strategy), status=r.status)
    step = decide(r, stable, None, [], 2.0, 0.0, 0.0)
    made = by_name(step.apply)
    assert made["web"]["spec"]["replicas"] == 4 and made["web-canary"]["spec"]["replicas"] == 1
    assert step.route_weight == 10


@given(st.integers(0, 500), st.integers(0, 100))
def test_split_keeps_the_total_and_gives_a_weighted_canary_at_least_one(
    total: int, weight: int
) -> None:
    stable, canary = split(total, weight)
    assert stable + canary == total and stable >= 0
    assert canary == 0 if weight == 0 or total == 0 else canary >= 1
