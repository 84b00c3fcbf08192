"""Fixtures for integration tests: one real dev cluster per test run, a namespace per test.

Set QD_TEST_KUBECONFIG to run against a cluster you already have (e.g. `qd dev up`);
otherwise a cluster named `it-<pid>` is started with the pools below and stopped at
the end of the run (QD_KEEP_CLUSTER=1 keeps it for a post-mortem).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace

from quarterdeck.devcluster.session import RunningCluster, temporary_cluster
from quarterdeck.kube.client import load_client

#: The pools every integration test can rely on.
TEST_POOLS = (
    "2x cpu-16",
    "2x gpu-h100-8:rack-size=1,nvlink-size=1",
    "1x gpu-a100-8:mig=1g.10gb,name=a100-mig",
)


@pytest.fixture(scope="session")
def dev_cluster() -> Iterator[RunningCluster]:
    if existing := os.environ.get("QD_TEST_KUBECONFIG"):
        yield RunningCluster("external", Path(existing), "")
        return
    with temporary_cluster(f"it-{os.getpid()}", TEST_POOLS) as running:
        yield running


@pytest.fixture(scope="session")
def kube(dev_cluster: RunningCluster) -> Iterator[Client]:
    yield load_client(dev_cluster.kubeconfig, field_manager="quarterdeck-tests")


@pytest.fixture
def namespace(kube: Client, request: pytest.FixtureRequest) -> Iterator[str]:
    base = request.node.name.lower().replace("_", "-")
    name = "".join(c for c in base if c.isalnum() or c == "-")[:40].strip("-")
    name = f"{name}-{uuid.uuid4().hex[:6]}"
    kube.create(Namespace(metadata=ObjectMeta(name=name)))
    yield name
    kube.delete(Namespace, name)
