"""`qd audit` on a dev-cluster story: two commits, one `kubectl edit` reverted by
self-heal, one break-glass edit during an incident kept; all in the trail."""

from __future__ import annotations

import json
import threading
from typing import Any

from lightkube import Client
from lightkube.resources.core_v1 import ConfigMap
from test_delivery_controller import application, cm, crds, setup
from typer.testing import CliRunner

from gitrepo import Repo
from quarterdeck.audit import store
from quarterdeck.cli.main import app as qd
from quarterdeck.delivery.controller import Controller
from quarterdeck.delivery.manifests import Key
from quarterdeck.delivery.runner import Runner
from quarterdeck.devcluster.session import RunningCluster
from quarterdeck.kube.wait import wait_for

__all__ = ["crds", "setup"]


def _wait(what: str, condition: Any, state: Any, timeout: float = 30.0) -> None:
    wait_for(condition, what, timeout, interval=0.1, state=state)


def _value(ctl: Controller, namespace: str) -> str | None:
    live = ctl.cluster.get("v1", Key("", "ConfigMap", namespace, "a"))
    return None if live is None else str((live.get("data") or {}).get("a"))


def test_audit_story(setup: tuple[Repo, Controller], kube: Client, namespace: str,
                     dev_cluster: RunningCluster) -> None:
    repo, ctl = setup
    kc = ["--kubeconfig", str(dev_cluster.kubeconfig), "-n", namespace]
    from lightkube.types import PatchType

    from quarterdeck.delivery.controller import SourceRes

    kube.patch(SourceRes, "repo", {"spec": {"interval": "1s"}}, namespace=namespace,
               patch_type=PatchType.MERGE)

    def state() -> str:
        return f"value {_value(ctl, namespace)}, trail {store.read(kube, namespace, 'web')}"

    first = repo.commit("config: first value", {"web/a.yaml": cm("a", "one")})
    ctl.cluster.apply(application(namespace, "web", "web", interval="1h"))
    runner = Runner(ctl, tick=0.5)  # it syncs, and then self-heal watches what it applied
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    try:
        _wait("the first commit", lambda: _value(ctl, namespace) == "one", state)
        second = repo.commit("config: second value", {"web/a.yaml": cm("a", "two")})
        _wait("the second commit", lambda: _value(ctl, namespace) == "two", state)
        # 1. An out-of-band edit: self-heal takes it back, and the trail says who made it.
        kube.patch(ConfigMap, "a", {"data": {"a": "edited"}}, namespace=namespace,
                   field_manager="kubectl-edit")
        _wait("the edit to be reverted", lambda: _value(ctl, namespace) == "two"
              and any(e.outcome == "reverted by self-heal"
                      for e in store.read(kube, namespace, "web")), state)
        # 2. Break-glass: an incident pauses self-heal; the edit made during it is kept.
        started = CliRunner().invoke(qd, ["incident", "start", "web", "--reason",
                                          "INC-42 hotfix", "--for", "1h", *kc])
        assert started.exit_code == 0, started.output
        kube.patch(ConfigMap, "a", {"data": {"a": "hotfix"}}, namespace=namespace,
                   field_manager="kubectl-edit")
        _wait("the break-glass edit to be recorded", lambda: any(
            e.outcome.startswith("kept: break-glass") for e in store.read(kube, namespace, "web")),
            state)
        assert _value(ctl, namespace) == "hotfix"
    finally:
        runner.stop.set()
        thread.join(timeout=10)

    result = CliRunner().invoke(qd, ["audit", "web", "--since", "1d", "-o", "json", *kc])
    assert result.exit_code == 0, result.output
    lines = json.loads(result.stdout)
    commits = [x for x in lines if x["change"] == "commit"]
    assert [c["detail"] for c in commits] == [f"{first[:12]} config: first value",
                                              f"{second[:12]} config: second value"]
    assert {c["by"] for c in commits} == {"Ada Lovelace <ada@example.com>"}
    edits = [x for x in lines if x["change"] == "out-of-band"]
    assert [(e["object"], e["by"], e["outcome"]) for e in edits] == [
        (f"ConfigMap/{namespace}/a", "kubectl-edit", "reverted by self-heal"),
        (f"ConfigMap/{namespace}/a", "kubectl-edit", "kept: break-glass incident (INC-42 hotfix)"),
    ]
    assert all("data.a" in e["detail"] for e in edits)
    [incident] = [x for x in lines if x["change"] == "incident"]
    assert incident["detail"] == "INC-42 hotfix" and "paused until" in incident["outcome"]
    order = [x["change"] for x in lines]
    assert order.index("incident") < len(order) - 1  # the kept edit came after it
    table = CliRunner().invoke(qd, ["audit", "web", *kc])
    assert table.exit_code == 0 and "kubectl-edit" in table.stdout
