"""Who owns a blue/green Service's selector: the Rollout, so the Application that syncs
the Service applies it without one (and never fights the switch)."""

from __future__ import annotations

from typing import Any

from quarterdeck.rollout.ownership import hand_over, switched_services


def service(name: str, namespace: str = "team") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
    }


def rollout(strategy: dict[str, Any], namespace: str = "team") -> dict[str, Any]:
    return {
        "apiVersion": "delivery.quarterdeck.dev/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "strategy": strategy},
    }


BLUE_GREEN = {"blueGreen": {"activeService": "web", "previewService": "web-preview"}}


def test_the_selectors_of_active_and_preview_services_are_left_to_the_rollout() -> None:
    desired = [rollout(BLUE_GREEN), service("web"), service("web-preview"), service("db")]
    out = hand_over(desired)
    selectors = {o["metadata"]["name"]: o["spec"].get("selector") for o in out[1:]}
    assert selectors == {"web": None, "web-preview": None, "db": {"app": "web"}}
    assert out[1]["spec"]["ports"] == [{"port": 80}]  # the rest of the Service stays Git's
    assert desired[1]["spec"]["selector"] == {"app": "web"}  # the input is not changed
    assert switched_services(desired) == {("team", "web"), ("team", "web-preview")}


def test_a_canary_or_another_namespace_hands_nothing_over() -> None:
    canary = [rollout({"canary": {"steps": [{"setWeight": 50}]}}), service("web")]
    assert hand_over(canary) == canary
    elsewhere = [rollout(BLUE_GREEN, "other"), service("web")]
    assert hand_over(elsewhere)[1]["spec"]["selector"] == {"app": "web"}
    assert hand_over([service("web")]) == [service("web")]
