"""Every cluster-facing `qd` command against the dev cluster, held to docs/cli.md.

Exit codes per the table (0 nothing to report, 1 a finding, 2 an error, 3 unreachable),
every output format parses as what it claims, no traceback on bad input. Commands run
in-process with typer's CliRunner; only `qd get -w` runs as a process (it streams).
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from lightkube import ApiError, Client, codecs
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition
from lightkube.resources.core_v1 import ConfigMap
from queueing_setup import LocalQueue, gpu_job, gpu_queue, passes_until
from typer.testing import CliRunner

from quarterdeck.cli.get import owned_kinds, resource
from quarterdeck.cli.main import app
from quarterdeck.devcluster.session import RunningCluster
from quarterdeck.kube.wait import wait_for

FORMATS = ("table", "wide", "yaml", "json", "name")
Application = create_namespaced_resource(
    "delivery.quarterdeck.dev", "v1alpha1", "Application", "applications"
)


def _servable(kube: Client, names: list[str]) -> bool:
    """Every CRD Established and its objects listable (storage initialised)."""
    for name in names:
        status = kube.get(CustomResourceDefinition, name).status
        conds = (status.conditions if status is not None else None) or []
        if not any(c.type == "Established" and c.status == "True" for c in conds):
            return False
    try:
        for kind in owned_kinds():
            list(
                kube.list(resource(kind), namespace="*")
                if kind.namespaced
                else kube.list(resource(kind))
            )
    except ApiError:
        return False
    return True


@pytest.fixture(scope="module")
def crds(kube: Client) -> None:
    from quarterdeck.api import delivery, fleet, project
    from quarterdeck.api.crd import crd
    from quarterdeck.api.policy_crd import guardrail_crd
    from quarterdeck.api.queueing import all_crds

    kinds = (*delivery.KINDS, *project.KINDS, *fleet.KINDS)  # every kind `qd get` owns
    manifests = [*(crd(k) for k in kinds), *all_crds(), guardrail_crd()]
    for manifest in manifests:
        kube.apply(codecs.from_dict(manifest), force=True)
    names = [m["metadata"]["name"] for m in manifests]
    wait_for(lambda: _servable(kube, names), "our CRDs", 60)


@pytest.fixture
def kc(dev_cluster: RunningCluster) -> list[str]:
    return ["--kubeconfig", str(dev_cluster.kubeconfig)]


@pytest.fixture
def queued(kube: Client, namespace: str, crds: None) -> Iterator[str]:
    """A namespace whose GPU queue `cq-NAMESPACE` admitted one Job `train` (8 of 16 GPUs)."""
    with gpu_queue(kube, namespace, nominal=16):
        kube.create(codecs.from_dict(gpu_job(namespace, "train", gpus=8)))
        passes_until(
            kube,
            lambda reports: True if any(r.admitted for r in reports) else None,
            "the Job's admission",
        )
        yield namespace


def _run(args: list[str]) -> Any:
    result = CliRunner().invoke(app, args)
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def _parsed(fmt: str, text: str) -> Any:
    return json.loads(text) if fmt == "json" else yaml.safe_load(text)


def test_get_every_kind_in_every_format(kube: Client, queued: str, kc: list[str]) -> None:
    namespace = queued
    app_obj = {
        "apiVersion": "delivery.quarterdeck.dev/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {"sourceRef": {"name": "repo"}, "path": "apps/web"},
    }
    kube.create(Application.from_dict(app_obj))
    for kind in owned_kinds():
        for fmt in FORMATS:
            result = _run(["get", kind.plural, "-n", namespace, "-o", fmt, *kc])
            assert result.exit_code == 0, (kind.plural, fmt, result.output)
            if fmt in ("json", "yaml"):
                listing = _parsed(fmt, result.stdout)
                assert listing["kind"] == "List"
                assert all(i["kind"] == kind.kind for i in listing["items"])
                assert all("managedFields" not in i["metadata"] for i in listing["items"])
            elif fmt == "name":
                prefix = f"{kind.singular}.{kind.group}/"
                assert all(line.startswith(prefix) for line in result.stdout.splitlines())
            elif result.stdout:
                assert result.stdout.split()[0] == "NAME"
    # one object: the object itself; -A adds NAMESPACE; kind/name works too
    one = _run(["get", "apps", "web", "-n", namespace, "-o", "json", *kc])
    assert json.loads(one.stdout)["spec"]["path"] == "apps/web"
    assert _run(["get", "workloads/job-train", "-n", namespace, *kc]).exit_code == 0
    everywhere = _run(["get", "lq", "-A", *kc])
    assert everywhere.stdout.split()[:2] == ["NAMESPACE", "NAME"]
    assert f"{namespace}   training" in everywhere.stdout
    table = _run(["get", "cq", queued_cq(namespace), *kc]).stdout.splitlines()
    assert table[0].split() == ["NAME", "COHORT", "STRATEGY", "PENDING", "ADMITTED", "AGE"]
    missing = _run(["get", "cq", "nope", *kc])
    assert missing.exit_code == 2 and '"nope" not found' in missing.stderr
    assert _run(["get", "lq", "x", "-A", *kc]).exit_code == 2


def queued_cq(namespace: str) -> str:
    return f"cq-{namespace}"


def test_queue_commands_show_usage_and_take_a_job_name(queued: str, kc: list[str]) -> None:
    namespace = queued
    listing = _run(["queue", "list", *kc])
    assert listing.exit_code == 0
    (line,) = [ln for ln in listing.stdout.splitlines() if ln.startswith(queued_cq(namespace))]
    assert "[#####.....] 8/16" in line  # the bar is text, not markup eaten by rich
    for fmt in ("json", "yaml"):
        rows = _parsed(fmt, _run(["queue", "list", "-o", fmt, *kc]).stdout)
        assert any(r["name"] == queued_cq(namespace) for r in rows)
        assert isinstance(_parsed(fmt, _run(["queue", "pending", "-o", fmt, *kc]).stdout), list)
    answers = [
        _run(["queue", "why", typed, "-n", namespace, "-o", "json", *kc])
        for typed in ("train", "job/train", "job-train")
    ]
    assert all(a.exit_code == 0 for a in answers)
    assert {json.loads(a.stdout)["workload"] for a in answers} == {f"{namespace}/job-train"}
    nope = _run(["queue", "why", "nope", "-n", namespace, *kc])
    assert nope.exit_code == 2 and "job-train" in nope.stderr  # the hint lists what is there


CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  k: {value}\n"


def test_diff_and_sync_exit_codes_and_unified_diff(
    kube: Client, namespace: str, tmp_path: Path, kc: list[str]
) -> None:
    app_dir = tmp_path / "web"
    app_dir.mkdir()
    (app_dir / "a.yaml").write_text(CM.format(name="a", value="v1"))
    base = ["--path", str(app_dir), "-n", namespace, *kc]
    first = _run(["diff", *base])
    assert first.exit_code == 1, first.output
    assert f"+++ desired/ConfigMap {namespace}/a" in first.stdout and "+  k: v1" in first.stdout
    report = json.loads(_run(["diff", *base, "-o", "json"]).stdout)
    assert report["create"] == [f"ConfigMap {namespace}/a"] and report["changes"]
    assert yaml.safe_load(_run(["diff", *base, "-o", "yaml"]).stdout)["create"] == report["create"]
    synced = _run(["sync", *base])
    assert synced.exit_code == 0, synced.output
    assert _run(["diff", *base]).exit_code == 0
    (app_dir / "a.yaml").write_text(CM.format(name="a", value="v2"))
    changed = _run(["diff", *base])
    assert changed.exit_code == 1
    assert "-  k: v1\n+  k: v2\n" in changed.stdout
    assert "managedFields" not in changed.stdout
    drift = json.loads(_run(["diff", *base, "-o", "json"]).stdout)
    assert drift["configure"] == [f"ConfigMap {namespace}/a"]
    assert drift["drift"][f"ConfigMap {namespace}/a"][0]["live"] == "v1"
    (app_dir / "bad.yaml").write_text("kind: [\n")
    broken = _run(["diff", *base])
    assert broken.exit_code == 2 and f"{app_dir}/bad.yaml:" in broken.stderr
    assert _run(["sync", *base]).exit_code == 2


def test_sync_never_says_pruned_for_what_a_guard_kept(
    kube: Client, namespace: str, tmp_path: Path, kc: list[str]
) -> None:
    app_dir = tmp_path / "web"
    app_dir.mkdir()
    for name in ("a", "b", "c"):
        (app_dir / f"{name}.yaml").write_text(CM.format(name=name, value="x"))
    base = ["--path", str(app_dir), "-n", namespace, "--prune", *kc]
    assert _run(["sync", *base]).exit_code == 0
    for name in ("a", "b"):
        (app_dir / f"{name}.yaml").unlink()
    guarded = _run(["sync", *base])  # 2 of 3 is more than the default --max-share 0.5
    assert guarded.exit_code == 2 and "refusing to prune 2 of 3" in guarded.stderr
    actions = {
        ln.split("   ")[0].split()[-1]: ln.split("   ", 1)[1].strip()
        for ln in guarded.stdout.splitlines()[1:]
    }
    assert actions == {
        f"{namespace}/a": "not pruned",
        f"{namespace}/b": "not pruned",
        f"{namespace}/c": "not applied",
    }
    report = json.loads(_run(["sync", *base, "-o", "json"]).stdout)
    assert report["pruned"] == [] and len(report["notPruned"]) == 2
    assert kube.get(ConfigMap, "a", namespace=namespace) is not None


def test_an_unreachable_cluster_exits_3(
    dev_cluster: RunningCluster, tmp_path: Path, crds: None
) -> None:
    config = yaml.safe_load(dev_cluster.kubeconfig.read_text())
    for cluster in config["clusters"]:
        cluster["cluster"]["server"] = "https://127.0.0.1:1"  # nothing listens on port 1
    dead = tmp_path / "dead.kubeconfig"
    dead.write_text(yaml.safe_dump(config))
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "a.yaml").write_text(CM.format(name="a", value="x"))
    kc = ["--kubeconfig", str(dead)]
    for args in (
        ["get", "cq"],
        ["get", "apps", "-A", "-o", "json"],
        ["queue", "list"],
        ["queue", "why", "x"],
        ["diff", "--path", str(tmp_path / "web")],
        ["sync", "--path", str(tmp_path / "web")],
        ["history", "web"],
    ):
        result = _run([*args, *kc])
        assert result.exit_code == 3, (args, result.output)
        assert "cannot reach the cluster" in result.stderr


def test_get_watch_streams_changes(
    kube: Client, namespace: str, crds: None, dev_cluster: RunningCluster
) -> None:
    qd = str(Path(sys.executable).parent / "qd")
    env = {**os.environ, "KUBECONFIG": str(dev_cluster.kubeconfig)}
    lq = {
        "apiVersion": "queueing.quarterdeck.dev/v1alpha1",
        "kind": "LocalQueue",
        "spec": {"clusterQueue": "none"},
    }
    kube.create(LocalQueue.from_dict({**lq, "metadata": {"name": "first", "namespace": namespace}}))
    proc = subprocess.Popen(
        [qd, "get", "lq", "-n", namespace, "-w"], stdout=subprocess.PIPE, text=True, env=env
    )
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    out = proc.stdout

    def read() -> None:
        for line in out:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    try:
        assert lines.get(timeout=30).split()[0] == "NAME"
        assert lines.get(timeout=30).split()[0] == "first"
        kube.create(
            LocalQueue.from_dict({**lq, "metadata": {"name": "second", "namespace": namespace}})
        )
        assert lines.get(timeout=30).split()[0] == "second"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_sync_app_wait_shows_progress_until_ready(
    kube: Client, namespace: str, tmp_path: Path, crds: None, kc: list[str]
) -> None:
    from gitrepo import Repo
    from quarterdeck.delivery.cluster import Cluster
    from quarterdeck.delivery.controller import Controller
    from quarterdeck.delivery.tenancy import LOCAL_REPOSITORIES

    repo = Repo(tmp_path / "repo")
    repo.commit("one", {"web/a.yaml": CM.format(name="a", value="v1")})
    cluster = Cluster(kube)
    cluster.apply(
        {
            "apiVersion": "delivery.quarterdeck.dev/v1alpha1",
            "kind": "Source",
            "metadata": {"name": "repo", "namespace": namespace},
            "spec": {"url": repo.url, "ref": {"branch": "main"}, "interval": "1m"},
        }
    )
    cluster.apply(
        {
            "apiVersion": "delivery.quarterdeck.dev/v1alpha1",
            "kind": "Application",
            "metadata": {"name": "web", "namespace": namespace},
            "spec": {"sourceRef": {"name": "repo"}, "path": "web", "timeout": "30s"},
        }
    )
    ctl = Controller(kube, tmp_path / "cache", namespace=namespace, policy=LOCAL_REPOSITORIES)
    stop = threading.Event()

    def operator() -> None:  # what `qd operator` does, in this process
        while not stop.is_set():
            ctl.reconcile_all()
            stop.wait(0.2)

    worker = threading.Thread(target=operator, daemon=True)
    worker.start()
    try:
        result = _run(["sync", "web", "-n", namespace, "--wait", "--timeout", "60s", *kc])
    finally:
        stop.set()
        worker.join(timeout=30)
    assert result.exit_code == 0, result.output
    assert f"application {namespace}/web is Ready" in result.stdout
    assert f"application {namespace}/web: Synced" in result.stderr
    app = ["web", "-n", namespace, *kc]
    for fmt in ("json", "yaml"):
        history = _parsed(fmt, _run(["history", *app, "-o", fmt]).stdout)
        assert history[0]["result"] == "Succeeded"
        diff = _run(["diff", *app, "-o", fmt])
        assert diff.exit_code == 0 and _parsed(fmt, diff.stdout)["changes"] is False
    assert _run(["history", *app]).stdout.split()[0] == "REVISION"
    assert _run(["rollback", *app]).exit_code == 2  # no REVISION and no --unpin
    assert _run(["rollback", *app, "0000000"]).exit_code == 2
    assert [_run([verb, *app]).exit_code for verb in ("suspend", "resume")] == [0, 0]
    timeout = _run(["sync", "web", "-n", namespace, "--wait", "--timeout", "1s", *kc])
    assert timeout.exit_code == 1 and "timed out" in timeout.stderr  # no operator running now
