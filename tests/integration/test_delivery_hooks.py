"""Sync waves and hooks on a real control plane: the sync-waves example is Ready,
its PreSync hook Job (generateName) ran before the app and every hook run is in the
Application's status (and `qd get app`, `qd history`), a failed PreSync hook stops
the sync and a hook that never finishes times out."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from delivery_setup import application, commit_example, install_crds, ready, source
from lightkube import Client
from lightkube.resources.batch_v1 import Job

from gitrepo import Repo
from quarterdeck.delivery.controller import Controller
from quarterdeck.delivery.hooks import HOOK_ID_LABEL
from quarterdeck.delivery.manifests import Key
from quarterdeck.delivery.tenancy import LOCAL_REPOSITORIES
from quarterdeck.devcluster.session import RunningCluster

pytestmark = pytest.mark.integration


@pytest.fixture
def setup(tmp_path: Path, kube: Client, namespace: str) -> tuple[Repo, Controller]:
    install_crds(kube)
    repo = Repo(tmp_path / "repo")
    ctl = Controller(kube, tmp_path / "cache", namespace=namespace, policy=LOCAL_REPOSITORIES)
    ctl.cluster.apply(source(namespace, repo.url))
    return repo, ctl


def _jobs(kube: Client, namespace: str) -> list[Job]:
    return list(kube.list(Job, namespace=namespace))


def _qd(dev_cluster: RunningCluster, namespace: str, *args: str) -> str:
    """What ``qd ARGS`` prints against the test cluster (it must succeed)."""
    from typer.testing import CliRunner

    from quarterdeck.cli.main import app as qd

    kc = ["-n", namespace, "--kubeconfig", str(dev_cluster.kubeconfig)]
    done = CliRunner().invoke(qd, [*args, *kc])
    assert done.exit_code == 0, done.output
    return done.stdout


def test_sync_waves_example_runs_presync_hook_then_waves_and_is_ready(
    setup: tuple[Repo, Controller], kube: Client, namespace: str, dev_cluster: RunningCluster
) -> None:
    repo, ctl = setup
    commit_example(repo, "sync-waves")
    ctl.cluster.apply(application(namespace, "waves", "sync-waves"))
    apps = ctl.reconcile_all()
    assert ready(apps, "waves")[0] == "True", ready(apps, "waves")
    (migrate,) = [j for j in _jobs(kube, namespace) if j.metadata.name.startswith("migrate-")]
    assert migrate.status.succeeded == 1
    # the PostSync smoke Job ran and was deleted (HookSucceeded); it is no inventory entry
    names = {j.metadata.name for j in _jobs(kube, namespace)}
    assert "smoke" not in names
    (app,) = [a for o, a in apps.items() if o.name == "waves"]
    assert {r.name for r in app.status.inventory} == {"web-config", "web"}
    web = ctl.cluster.get("apps/v1", Key("apps", "Deployment", namespace, "web"))
    config = ctl.cluster.get("v1", Key("", "ConfigMap", namespace, "web-config"))
    assert web is not None and config is not None
    # PreSync runs before the first wave: the ConfigMap (wave -1) is younger than the hook
    hook_done = migrate.status.completionTime
    assert hook_done is not None
    assert config["metadata"]["creationTimestamp"] >= hook_done.isoformat().replace("+00:00", "Z")
    # the hook runs are in the sync's history entry: which hook, phase, times, result
    (ran_pre, ran_post) = app.status.history[0].hooks
    assert (ran_pre.phase, ran_pre.hook, ran_pre.name, ran_pre.result) == (
        "PreSync", "Job migrate-", migrate.metadata.name, "Succeeded"
    )
    assert (ran_post.phase, ran_post.hook, ran_post.name, ran_post.result) == (
        "PostSync", "Job smoke", "smoke", "Succeeded"
    )
    for run in (ran_pre, ran_post):
        assert run.started and run.started <= run.finished, run
    assert ran_pre.finished <= ran_post.started
    shown = _qd(dev_cluster, namespace, "get", "app", "waves", "-o", "yaml")
    entry = yaml.safe_load(shown)["status"]["history"][0]
    assert [(h["phase"], h["result"]) for h in entry["hooks"]] == [
        ("PreSync", "Succeeded"), ("PostSync", "Succeeded")
    ]
    wide = _qd(dev_cluster, namespace, "get", "app", "waves", "-o", "wide").splitlines()
    assert "HOOKS" in wide[0] and "Succeeded,Succeeded" in wide[1], wide
    history = _qd(dev_cluster, namespace, "history", "waves")
    assert f"PreSync {migrate.metadata.name} Succeeded" in history, history
    assert "PostSync smoke Succeeded" in history, history
    # a second sync of a new commit deletes the earlier migrate Job first (BeforeHookCreation)
    repo.commit(
        "two",
        {"sync-waves/extra.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\n"},
    )
    apps = ctl.reconcile_all(force=True)
    assert ready(apps, "waves")[0] == "True", ready(apps, "waves")
    migrates = [j for j in _jobs(kube, namespace) if j.metadata.name.startswith("migrate-")]
    live = [j for j in migrates if j.metadata.deletionTimestamp is None]
    assert len(live) == 1 and live[0].metadata.name != migrate.metadata.name
    assert live[0].metadata.labels[HOOK_ID_LABEL] == migrate.metadata.labels[HOOK_ID_LABEL]


FAILING_HOOK = """apiVersion: batch/v1
kind: Job
metadata:
  generateName: check-
  annotations: {argocd.argoproj.io/hook: PreSync}
spec:
  backoffLimit: 0
  activeDeadlineSeconds: 1
  template:
    spec:
      restartPolicy: Never
      nodeSelector: {nowhere: "true"}
      containers: [{name: check, image: registry.local/check:1}]
"""

APP_CM = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\ndata: {a: '1'}\n"


def test_failed_presync_hook_stops_the_sync_before_any_change(
    setup: tuple[Repo, Controller], namespace: str
) -> None:
    repo, ctl = setup
    repo.commit("one", {"app/hook.yaml": FAILING_HOOK, "app/cm.yaml": APP_CM})
    ctl.cluster.apply(application(namespace, "app", "app"))
    apps = ctl.reconcile_all()
    status, message = ready(apps, "app")
    assert status == "False"
    assert "PreSync hook Job" in message and "failed" in message and "check-" in message
    assert ctl.cluster.get("v1", Key("", "ConfigMap", namespace, "app")) is None
    (app,) = [a for o, a in apps.items() if o.name == "app"]
    (run,) = app.status.history[0].hooks
    assert (run.phase, run.hook, run.result) == ("PreSync", "Job check-", "Failed")
    assert run.name.startswith("check-") and run.message and run.finished >= run.started


def test_hook_that_never_finishes_times_out_by_the_application_timeout(
    setup: tuple[Repo, Controller], namespace: str
) -> None:
    repo, ctl = setup
    stuck = FAILING_HOOK.replace("  activeDeadlineSeconds: 1\n", "")
    repo.commit("one", {"app/hook.yaml": stuck, "app/cm.yaml": APP_CM})
    ctl.cluster.apply(application(namespace, "app", "app", timeout="2s"))
    apps = ctl.reconcile_all()
    status, message = ready(apps, "app")
    assert status == "False" and "did not finish in time" in message, message
    assert ctl.cluster.get("v1", Key("", "ConfigMap", namespace, "app")) is None
    (app,) = [a for o, a in apps.items() if o.name == "app"]
    (run,) = app.status.history[0].hooks
    assert (run.phase, run.result, run.finished) == ("PreSync", "Running", "")
