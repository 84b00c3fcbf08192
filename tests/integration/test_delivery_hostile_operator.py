"""Hostile commits through a real `qd operator` process, whose manifests are parsed in
worker processes under memory and time limits (delivery.parse_worker).

Two tenants, each with its own repository, Source and Application. team-a pushes one
hostile commit after another (an alias bomb, 2,000-deep nesting, a document that needs
more memory than a parse worker may have, wrong-typed labels, an oversized file), each
together with an innocent change. Each time: team-a's Application is Ready=False naming
the commit, the file and the reason, with a Warning Event; the innocent change of the
same commit is not applied (nothing half-applied); team-b's new commit is synced
meanwhile; the operator process stays up. Finally team-a's fix syncs.

The operator is scoped to the test's namespace (`--namespace`) so it never touches what
other tests run in the same cluster; the tenants are told apart by their Sources.
See docs/tenancy.md for the threat table.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from delivery_setup import install_crds
from lightkube import ApiError, Client
from lightkube.resources.core_v1 import ConfigMap, Event

from gitrepo import Repo
from operator_process import OperatorProcess
from quarterdeck.delivery.cluster import Cluster
from quarterdeck.delivery.controller import ApplicationRes
from quarterdeck.devcluster.session import RunningCluster
from quarterdeck.kube.wait import wait_for

pytestmark = pytest.mark.integration
GROUP = "delivery.quarterdeck.dev/v1alpha1"
PARSE_MEMORY_MIB = 40  # a worker needs about 21 MiB idle; real manifests fit easily


def cm(name: str, value: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  v: {value!r}\n"


BOMB = "".join(
    [f"a0: &a0 [{', '.join(['lol'] * 9)}]\n"]
    + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9)]
)
# 3 MB of YAML within every kyaml bound (and the 4 MiB file limit) that builds about
# 42 MiB of objects: more than a worker may have, so only the worker dies
HUNGRY = (
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hungry\ndata:\n  items: ["
    + ",".join(["{a: [1, 2, 3, 4, 5, 6, 7, 8]}"] * 100_000)
    + "]\n"
)
HOSTILE: dict[str, tuple[dict[str, str], str]] = {
    "alias bomb": ({"app/bomb.yaml": BOMB}, "app/bomb.yaml:6:10: aliases expand to more than"),
    "deep nesting": (
        {"app/deep.yaml": "a: " + "[" * 2000 + "]" * 2000 + "\n"},
        "app/deep.yaml:1:1003: nesting is deeper than 200",
    ),
    "memory-hungry document": (
        {"app/hungry.yaml": HUNGRY},
        f"app/hungry.yaml: parsing stopped: it needs more than the memory limit "
        f"({PARSE_MEMORY_MIB} MiB)",
    ),
    "wrong-typed labels": (
        {"app/labels.yaml": cm("x", "x").replace("  name: x\n", "  name: x\n  labels: [a]\n")},
        "app/labels.yaml:1: ConfigMap x: metadata.labels must be a mapping",
    ),
    "oversized file": (
        {"app/huge.yaml": "# " + "x" * (5 << 20) + "\n"},
        "app/huge.yaml: file is 5242883 bytes, over the limit of",
    ),
}


def tenant(namespace: str, team: str, url: str) -> list[dict[str, Any]]:
    """A team's Source and Application (its own repository)."""
    return [
        {
            "apiVersion": GROUP,
            "kind": "Source",
            "metadata": {"name": team, "namespace": namespace},
            "spec": {"url": url, "ref": {"branch": "main"}, "interval": "1s"},
        },
        {
            "apiVersion": GROUP,
            "kind": "Application",
            "metadata": {"name": team, "namespace": namespace},
            "spec": {
                "sourceRef": {"name": team},
                "path": "app",
                "wait": False,
                "interval": "1h",  # a new commit is what makes it sync
            },
        },
    ]


def live_value(kube: Client, namespace: str, name: str) -> str | None:
    try:
        data = kube.get(ConfigMap, name, namespace=namespace).data or {}
    except ApiError:
        return None
    return data.get("v")


def has(kube: Client, namespace: str, name: str, value: str) -> bool:
    return live_value(kube, namespace, name) == value


def synced(kube: Client, namespace: str, name: str, sha: str) -> bool:
    """Whether the Application is Ready at commit ``sha``."""
    status = dict(kube.get(ApplicationRes, name, namespace=namespace)).get("status") or {}
    conds: list[dict[str, Any]] = status.get("conditions", [])
    up = any(c["type"] == "Ready" and c["status"] == "True" for c in conds)
    return up and status.get("lastAppliedRevision") == sha


def ready(kube: Client, namespace: str, name: str) -> tuple[str, str]:
    status = dict(kube.get(ApplicationRes, name, namespace=namespace)).get("status") or {}
    conds: list[dict[str, Any]] = status.get("conditions", [])
    cond = next((c for c in conds if c["type"] == "Ready"), {})
    return str(cond.get("status", "")), str(cond.get("message", ""))


def warnings(kube: Client, namespace: str, name: str, reason: str) -> list[str]:
    return [
        str(e.message)
        for e in kube.list(Event, namespace=namespace)
        if e.involvedObject.name == name and e.reason == reason and e.type == "Warning"
    ]


@pytest.fixture
def operator(
    kube: Client, dev_cluster: RunningCluster, tmp_path: Path, namespace: str
) -> Iterator[OperatorProcess]:
    install_crds(kube)  # applied, Established and listable
    # the time limit far out of reach: at load, building the hungry document until it
    # hits the memory limit can take longer than the default 30 s, and which of the two
    # limits stops it would then depend on the machine (both stop only the worker)
    limits = ("--parse-memory-mib", str(PARSE_MEMORY_MIB), "--parse-timeout", "900")
    proc = OperatorProcess(dev_cluster.kubeconfig, tmp_path, namespace, "op", extra=limits)
    try:
        yield proc.start()
    finally:
        proc.stop()


def test_hostile_commits_hurt_only_their_own_application(
    kube: Client, namespace: str, tmp_path: Path, operator: OperatorProcess
) -> None:
    repos = {team: Repo(tmp_path / team) for team in ("team-a", "team-b")}
    for team, repo in repos.items():
        repo.commit("first", {"app/cm.yaml": cm(team, "first")})
        for obj in tenant(namespace, team, repo.url):
            Cluster(kube).apply(obj)
    for team in repos:
        wait_for(partial(has, kube, namespace, team, "first"), f"{team} synced", 300)

    a, b = repos["team-a"], repos["team-b"]
    for case, (files, reason) in HOSTILE.items():
        a.git("rm", "-rq", "--ignore-unmatch", "app")
        sha = a.commit(case, {"app/cm.yaml": cm("team-a", case), **files})
        b_sha = b.commit(case, {"app/cm.yaml": cm("team-b", case)})

        def refused(sha: str = sha) -> str | None:
            status, message = ready(kube, namespace, "team-a")
            return message if status == "False" and sha[:12] in message else None

        message = wait_for(refused, f"team-a's {case} commit to be refused", 300)
        assert reason in message, (case, message)

        def warned(sha: str = sha) -> list[str]:
            found = warnings(kube, namespace, "team-a", "SyncFailed")
            return [m for m in found if sha[:12] in m]

        assert reason in wait_for(warned, f"the Warning Event for {case}", 120)[0]
        # the other tenant's commit of the same moment is synced
        wait_for(partial(synced, kube, namespace, "team-b", b_sha), f"team-b's {case}", 180)
        assert live_value(kube, namespace, "team-b") == case
        # nothing of the hostile commit was applied, not even its innocent half
        assert live_value(kube, namespace, "team-a") == "first", case
        assert operator.alive(), case

    a.git("rm", "-rq", "app")
    fixed = a.commit("fixed", {"app/cm.yaml": cm("team-a", "fixed")})
    wait_for(partial(synced, kube, namespace, "team-a", fixed), "team-a's fix", 180)
    assert live_value(kube, namespace, "team-a") == "fixed"
    assert operator.alive()
    assert "Traceback" not in operator.log.read_text()
