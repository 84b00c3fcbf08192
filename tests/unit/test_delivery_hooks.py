"""Sync waves and hooks as pure decisions: what is a hook, its phases, order, policies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from quarterdeck.delivery.hooks import (
    HookError,
    delete_after,
    hook_state,
    in_waves,
    phase_waves,
    split,
)
from quarterdeck.delivery.manifests import ManifestError, key_of, parse_documents


def obj(kind: str, name: str = "", generate: str = "", **annotations: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"annotations": annotations} if annotations else {}
    if name:
        meta["name"] = name
    if generate:
        meta["generateName"] = generate
    api = "batch/v1" if kind == "Job" else "v1"
    return {"apiVersion": api, "kind": kind, "metadata": meta}


def test_argo_and_our_annotations_make_hooks_with_phases_and_policies() -> None:
    resources, hooks = split(
        [
            obj("ConfigMap", "plain"),
            obj("Job", generate="migrate-", **{"argocd.argoproj.io/hook": "PreSync"}),
            obj(
                "Job",
                "smoke",
                **{
                    "delivery.quarterdeck.dev/hook": "PostSync,SyncFail",
                    "delivery.quarterdeck.dev/hook-delete-policy": "HookSucceeded",
                },
            ),
            obj("ConfigMap", "skipped", **{"argocd.argoproj.io/hook": "Skip"}),
            obj("Job", "helm-pre", **{"helm.sh/hook": "pre-install,pre-upgrade"}),
        ]
    )
    assert [r["metadata"]["name"] for r in resources] == ["plain"]
    by_name = {h.name: h for h in hooks}
    assert by_name["migrate-"].phases == ("PreSync",) and by_name["migrate-"].generated
    assert by_name["migrate-"].delete_policies == ("BeforeHookCreation",)  # the default
    assert by_name["smoke"].phases == ("PostSync", "SyncFail")
    assert by_name["smoke"].delete_policies == ("HookSucceeded",)
    assert by_name["helm-pre"].phases == ("PreSync",)


def test_unknown_phase_bad_wave_and_generate_name_without_hook_are_refused() -> None:
    with pytest.raises(HookError, match="'PreSink' is not one of"):
        split([obj("Job", "x", **{"argocd.argoproj.io/hook": "PreSink"})])
    with pytest.raises(HookError, match="sync-wave 'first' is not an integer"):
        split([obj("ConfigMap", "x", **{"argocd.argoproj.io/sync-wave": "first"})])
    with pytest.raises(HookError, match="only hooks may use generateName"):
        split([obj("Job", generate="x-")])
    with pytest.raises(HookError, match="'Never' is not one of"):
        split(
            [
                obj(
                    "Job",
                    "x",
                    **{
                        "argocd.argoproj.io/hook": "Sync",
                        "argocd.argoproj.io/hook-delete-policy": "Never",
                    },
                )
            ]
        )


def test_generate_name_parses_only_for_hooks() -> None:
    hook = (
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  generateName: migrate-\n"
        "  annotations: {argocd.argoproj.io/hook: PreSync}\n"
    )
    (manifest,) = parse_documents(hook, "job.yaml")
    assert key_of(manifest.obj).name == "migrate-"
    with pytest.raises(ManifestError, match=r"job\.yaml:1: Job has no metadata\.name"):
        parse_documents(
            "apiVersion: batch/v1\nkind: Job\nmetadata: {generateName: m-}\n", "job.yaml"
        )


@dataclass(frozen=True)
class Step:
    obj: dict[str, Any]
    stage: int


def test_waves_are_ordered_inside_stages_and_hooks_by_wave() -> None:
    w = "argocd.argoproj.io/sync-wave"
    steps = [
        Step(obj("ConfigMap", "a", **{w: "2"}), 2),
        Step(obj("Namespace", "ns", **{w: "5"}), 0),
        Step(obj("ConfigMap", "b"), 2),
        Step(obj("ConfigMap", "c", **{w: "-1"}), 2),
        Step(obj("ConfigMap", "d", **{w: "2"}), 2),
    ]
    order = [(wave, [s.obj["metadata"]["name"] for s in group]) for wave, group in in_waves(steps)]
    assert order == [(5, ["ns"]), (-1, ["c"]), (0, ["b"]), (2, ["a", "d"])]
    hook = "argocd.argoproj.io/hook"
    _, hooks = split(
        [
            obj("Job", "late", **{hook: "PreSync", w: "3"}),
            obj("Job", "b", **{hook: "PreSync"}),
            obj("Job", "a", **{hook: "PreSync"}),
            obj("Job", "post", **{hook: "PostSync"}),
        ]
    )
    assert [[h.name for h in g] for g in phase_waves(hooks, "PreSync")] == [["a", "b"], ["late"]]


def test_hook_state_and_delete_policy() -> None:
    job = obj("Job", "j")
    assert hook_state(job)[0] == "Running"
    job["status"] = {"conditions": [{"type": "Failed", "status": "True", "message": "deadline"}]}
    assert hook_state(job) == ("Failed", "deadline")
    job["status"] = {"conditions": [{"type": "Complete", "status": "True"}]}
    assert hook_state(job)[0] == "Succeeded"
    assert hook_state({"kind": "Pod", "status": {"phase": "Failed"}})[0] == "Failed"
    assert hook_state(obj("ConfigMap", "c"))[0] == "Succeeded"
    policy = "argocd.argoproj.io/hook-delete-policy"
    _, (hook,) = split(
        [obj("Job", "j", **{"argocd.argoproj.io/hook": "Sync", policy: "HookFailed"})]
    )
    assert delete_after(hook, "Failed") and not delete_after(hook, "Succeeded")
