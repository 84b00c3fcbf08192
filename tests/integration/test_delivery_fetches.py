"""Git fetches on the operator's path: Applications on their Source's commit cost none.

The repository is served over smart HTTP by real `git http-backend` (the Flux bench's
server), which counts the fetches it answers; the operator's loop (Runner: work queue,
informers, 16 workers) syncs 24 Applications of one Source.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from delivery_setup import application, source
from lightkube import Client
from test_delivery_controller import cm, crds  # noqa: F401

from gitrepo import Repo
from quarterdeck.delivery.cluster import Cluster
from quarterdeck.delivery.controller import Controller
from quarterdeck.delivery.runner import Runner, is_ready
from quarterdeck.delivery.tenancy import LOCAL_REPOSITORIES
from quarterdeck.kube.wait import wait_for

sys.path.insert(0, str(Path(__file__).parents[2] / "bench" / "peers"))
from git_http import GitServer  # git over smart HTTP, shared with the Flux bench

pytestmark = pytest.mark.integration
APPS = 24
HTTP_SOURCES = dataclasses.replace(LOCAL_REPOSITORIES, allow_http_sources=True)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[GitServer]:
    repo = Repo(tmp_path / "git" / "repo")
    repo.commit("apps", {f"apps/a{i}/cm.yaml": cm(f"a{i}") for i in range(APPS)})
    server = GitServer(tmp_path / "git")
    yield server
    server.stop()


def _synced(app: dict[str, Any]) -> bool:
    """Ready at the Application's current generation."""
    seen = (app.get("status") or {}).get("observedGeneration")
    return is_ready(app) and seen == app["metadata"]["generation"]


def _all_synced(runner: Runner) -> None:
    """Run ``runner`` until every Application is synced at its generation, then stop it."""
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    try:
        wait_for(
            lambda: sum(1 for a in runner.apps.list() if _synced(a)) == APPS,
            f"{APPS} Applications synced",
            180,
        )
    finally:
        runner.stop.set()
        thread.join(timeout=30)


def test_applications_on_their_sources_commit_fetch_nothing_themselves(
    served: GitServer, kube: Client, namespace: str, tmp_path: Path, crds: None  # noqa: F811
) -> None:
    cluster = Cluster(kube)
    cluster.apply(source(namespace, served.url("repo")))
    for i in range(APPS):
        cluster.apply(application(namespace, f"a{i}", f"apps/a{i}"))

    def operator() -> Runner:
        ctl = Controller(kube, tmp_path / "cache", namespace=namespace, policy=HTTP_SOURCES)
        return Runner(ctl, workers=16)

    _all_synced(operator())
    assert served.fetches["repo"] == 1  # the Source's, which answered all 24
    # a new leader (or a restart): its memory is empty, the Source's status is not, so
    # the Applications come in before the Source is fetched again; the mirror answers
    for i in range(APPS):  # make every one due again: a new generation
        cluster.apply(application(namespace, f"a{i}", f"apps/a{i}", interval="2h"))
    _all_synced(operator())
    assert served.fetches["repo"] == 2  # the Source's fetch again, and only that
