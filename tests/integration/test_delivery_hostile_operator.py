"""Hostile commits through a real `qd operator` process, whose manifests are parsed in
worker processes under memory and time limits (delivery.parse_worker) and rendered by
kustomize or Helm under a time limit (`--render-timeout`).

Two tenants, each with its own repository, Source and Application. team-a pushes one
hostile commit after another (an alias bomb, 2,000-deep nesting, a document that needs
more memory than a parse worker may have, wrong-typed labels, an oversized file, a
symlink loop; a Helm chart that renders for longer than the limit), each together with
an innocent change. Each time: team-a's Application is Ready=False naming the commit,
the file and the reason, with a Warning Event; the innocent change of the same commit
is not applied (nothing half-applied); team-b's new commit is synced meanwhile; the
operator process stays up. Finally team-a's fix syncs. A dependsOn chain of 1,100
Applications is ordered (its end syncs first, every other link waits for the next)
while team-b keeps syncing.

The operator is scoped to the test's namespace (`--namespace`) so it never touches what
other tests run in the same cluster; the tenants are told apart by their Sources.
See docs/tenancy.md for the threat table.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
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
from quarterdeck.delivery.helm import HELM
from quarterdeck.devcluster.gocommand import cached_command
from quarterdeck.devcluster.session import RunningCluster
from quarterdeck.kube.wait import wait_for

pytestmark = pytest.mark.integration
GROUP = "delivery.quarterdeck.dev/v1alpha1"
PARSE_MEMORY_MIB = 40  # a worker needs about 21 MiB idle; real manifests fit easily
RENDER_TIMEOUT = 2  # seconds; the slow chart needs hours, so no load makes it fit
CHAIN = 1100


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


class Link(str):
    """A symlink to commit (its target), where the other files are texts."""


# a Go template that loops 10^10 times and prints nothing: no memory, no output, only time
SLOW_CHART = {
    "app/Chart.yaml": "apiVersion: v2\nname: slow\nversion: 0.1.0\n",
    "app/templates/slow.yaml": "{{- range until 100000 }}{{- range until 100000 }}"
    "{{- end }}{{- end }}\n",
}
Files = dict[str, str]
HOSTILE: dict[str, tuple[Files, str]] = {
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
        "app/huge.yaml: file is 5242883 bytes, over the limit of 4194304; nothing was checked out",
    ),
    # two links, one outside the Application's path, that point at each other
    "symlink loop": (
        {"app/loop": Link("../elsewhere/loop"), "elsewhere/loop": Link("../app/loop")},
        "app/loop: symlink to '../elsewhere/loop' is a loop",
    ),
}


def tenant(
    namespace: str, team: str, url: str, source: str = "", **spec: Any
) -> list[dict[str, Any]]:
    """A team's Source and Application (its own repository); with ``source``, only an
    Application of that Source (``spec`` added to its spec)."""
    objs = [
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
    if source:
        objs = objs[1:]
        objs[0]["spec"] |= {"sourceRef": {"name": source}, **spec}
    return objs


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
    limits += ("--render-timeout", str(RENDER_TIMEOUT))
    proc = OperatorProcess(dev_cluster.kubeconfig, tmp_path, namespace, "op", extra=limits)
    try:
        yield proc.start()
    finally:
        proc.stop()


def tenants(kube: Client, namespace: str, tmp_path: Path) -> tuple[Repo, Repo]:
    """team-a's and team-b's repositories, each synced at its first commit."""
    repos = {team: Repo(tmp_path / team) for team in ("team-a", "team-b")}
    for team, repo in repos.items():
        repo.commit("first", {"app/cm.yaml": cm(team, "first")})
        for obj in tenant(namespace, team, repo.url):
            Cluster(kube).apply(obj)
    for team in repos:
        wait_for(partial(has, kube, namespace, team, "first"), f"{team} synced", 300)
    return repos["team-a"], repos["team-b"]


def commit(repo: Repo, message: str, files: Files) -> str:
    """Commit ``files``; a ``Link`` is committed as a symlink to its target."""
    for name, target in files.items():
        if isinstance(target, Link):
            path = repo.path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(target, path)
    return repo.commit(message, {n: t for n, t in files.items() if not isinstance(t, Link)})


def refused_alone(
    kube: Client,
    namespace: str,
    operator: OperatorProcess,
    repos: tuple[Repo, Repo],
    case: str,
    files: Files,
    reason: str,
) -> str:
    """team-a's commit of ``files`` (and an innocent change) is refused for ``reason``,
    naming the commit, with a Warning Event, nothing of it applied; team-b's commit of
    the same moment is synced; the operator stays up. Returns the refused commit."""
    a, b = repos
    a.git("rm", "-rq", "--ignore-unmatch", "app", "elsewhere")
    sha = commit(a, case, {"app/cm.yaml": cm("team-a", case), **files})
    b_sha = b.commit(case, {"app/cm.yaml": cm("team-b", case)})

    def refused() -> str | None:
        status, message = ready(kube, namespace, "team-a")
        return message if status == "False" and sha[:12] in message else None

    message = wait_for(refused, f"team-a's {case} commit to be refused", 300)
    assert reason in message, (case, message)

    def warned() -> list[str]:
        return [m for m in warnings(kube, namespace, "team-a", "SyncFailed") if sha[:12] in m]

    assert reason in wait_for(warned, f"the Warning Event for {case}", 120)[0]
    # the other tenant's commit of the same moment is synced
    wait_for(partial(synced, kube, namespace, "team-b", b_sha), f"team-b's {case}", 180)
    assert live_value(kube, namespace, "team-b") == case
    # nothing of the hostile commit was applied, not even its innocent half
    assert live_value(kube, namespace, "team-a") == "first", case
    assert operator.alive(), case
    return sha


def fixed(kube: Client, namespace: str, operator: OperatorProcess, a: Repo) -> None:
    """team-a's fix syncs; the operator never printed a traceback."""
    a.git("rm", "-rq", "--ignore-unmatch", "app", "elsewhere")
    sha = a.commit("fixed", {"app/cm.yaml": cm("team-a", "fixed")})
    wait_for(partial(synced, kube, namespace, "team-a", sha), "team-a's fix", 180)
    assert live_value(kube, namespace, "team-a") == "fixed"
    assert operator.alive()
    assert "Traceback" not in operator.log.read_text()


def test_hostile_commits_hurt_only_their_own_application(
    kube: Client, namespace: str, tmp_path: Path, operator: OperatorProcess
) -> None:
    repos = tenants(kube, namespace, tmp_path)
    refused = {
        case: refused_alone(kube, namespace, operator, repos, case, files, reason)
        for case, (files, reason) in HOSTILE.items()
    }
    # the oversized commit was refused from git's object sizes: no checkout on disk
    checkouts = [p.name for p in (tmp_path / "cache-op" / "checkouts").iterdir()]
    assert not [c for c in checkouts if refused["oversized file"][:20] in c], checkouts
    fixed(kube, namespace, operator, repos[0])


@pytest.mark.skipif(cached_command(HELM) is None, reason="helm not built: run qd dev build")
def test_a_render_over_the_time_limit_hurts_only_its_own_application(
    kube: Client, namespace: str, tmp_path: Path, operator: OperatorProcess
) -> None:
    """A chart whose template would run for hours: helm is stopped at the operator's
    --render-timeout, only team-a's Application fails, and it recovers with its fix."""
    repos = tenants(kube, namespace, tmp_path)
    reason = f"app: helm template took longer than {RENDER_TIMEOUT}s"
    refused_alone(kube, namespace, operator, repos, "slow render", SLOW_CHART, reason)
    fixed(kube, namespace, operator, repos[0])


def link_name(i: int) -> str:
    return f"chain-{i:04}"


def test_a_dependson_chain_of_1100_leaves_the_others_syncing(
    kube: Client, namespace: str, tmp_path: Path, operator: OperatorProcess
) -> None:
    """1,100 real Applications, chain-0000 -> chain-0001 -> ... -> chain-1099, each
    syncing its own copy (namePrefix) of one directory of team-a's repository. The end of
    the chain syncs first and releases the next; every other link waits for exactly its
    next one; team-b's new commit syncs meanwhile. The whole chain is not waited for:
    1,100 syncs one after another would take most of an hour on a shared machine, and
    the chain's depth, not its completion, is what once stopped every Application."""
    a, b = tenants(kube, namespace, tmp_path)
    a.commit("chain", {"chain/cm.yaml": cm("link", "chain")})
    cluster = Cluster(kube)  # one, so that the CRDs are looked up once

    def create(i: int) -> None:
        deps = [{"name": link_name(i + 1)}] if i + 1 < CHAIN else []
        spec = {"path": "chain", "dependsOn": deps, "render": {"namePrefix": f"c{i:04}-"}}
        (app,) = tenant(namespace, link_name(i), a.url, source="team-a", **spec)
        cluster.apply(app)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create, range(CHAIN)))
    end, before_end = link_name(CHAIN - 1), link_name(CHAIN - 2)
    for name in (end, before_end):  # the end first, then the link that waited for it
        wait_for(lambda name=name: ready(kube, namespace, name)[0] == "True", name, 300)
        prefix = name.replace("chain-", "c")
        assert has(kube, namespace, f"{prefix}-link", "chain"), name

    def every_link_looked_at() -> list[dict[str, Any]] | None:
        apps = [dict(x) for x in kube.list(ApplicationRes, namespace=namespace)]
        links = [x for x in apps if x["metadata"]["name"].startswith("chain-")]
        looked = all((x.get("status") or {}).get("conditions") for x in links)
        return links if looked and len(links) == CHAIN else None

    # one list is one snapshot: the Ready links are the end of the chain, the first link
    # before them may be syncing now, and every other link waits for exactly its next one
    links = sorted(
        wait_for(every_link_looked_at, "a status on every link", 600),
        key=lambda x: str(x["metadata"]["name"]),
    )
    conds = [next(c for c in x["status"]["conditions"] if c["type"] == "Ready") for x in links]
    done = [c["status"] == "True" for c in conds]
    assert done == sorted(done), "only the end of the chain is Ready"
    for i, cond in enumerate(conds[:-1]):
        if not done[i] and not done[i + 1]:
            expected = ("DependencyNotReady", f"waiting for {namespace}/{link_name(i + 1)}")
            assert (cond["reason"], cond["message"]) == expected, link_name(i)

    b_sha = b.commit("after the chain", {"app/cm.yaml": cm("team-b", "after the chain")})
    wait_for(partial(synced, kube, namespace, "team-b", b_sha), "team-b's commit", 300)
    assert live_value(kube, namespace, "team-b") == "after the chain"
    assert operator.alive()
    assert "Traceback" not in operator.log.read_text()
