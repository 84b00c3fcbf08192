"""Clients for an API server: the one place that turns a kubeconfig into a connection.

Everything else in quarterdeck takes a client as an argument; nothing reads KUBECONFIG on
its own, so tests and the fleet code can point any component at any cluster.
"""

from __future__ import annotations

import os
from pathlib import Path

from lightkube import AsyncClient, Client, KubeConfig


class ClusterUnreachableError(RuntimeError):
    """The API server named by the kubeconfig does not answer."""


def load_config(kubeconfig: Path | None = None) -> KubeConfig:
    """The kubeconfig at `kubeconfig`, else $KUBECONFIG, else ~/.kube/config."""
    if kubeconfig is not None:
        return KubeConfig.from_file(kubeconfig)
    return KubeConfig.from_env()


def load_client(kubeconfig: Path | None = None, field_manager: str | None = None) -> Client:
    return Client(config=load_config(kubeconfig), field_manager=field_manager, trust_env=False)


def load_async_client(
    kubeconfig: Path | None = None, field_manager: str | None = None
) -> AsyncClient:
    return AsyncClient(config=load_config(kubeconfig), field_manager=field_manager, trust_env=False)


def describe_target(kubeconfig: Path | None) -> str:
    """Which kubeconfig a command would use, for error messages."""
    if kubeconfig is not None:
        return str(kubeconfig)
    return os.environ.get("KUBECONFIG", "~/.kube/config")
