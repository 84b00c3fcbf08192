"""Clients for an API server: the one place that turns a kubeconfig into a connection.

Everything else in quarterdeck takes a client as an argument; nothing reads KUBECONFIG on
its own, so tests and the fleet code can point any component at any cluster. Which
cluster, user and namespace is decided in quarterdeck.kube.config, as kubectl decides it.
"""

from __future__ import annotations

from pathlib import Path

from lightkube import AsyncClient

from quarterdeck.kube.config import (
    ClientSettings,
    as_settings,
    build_client,
    load_client,
    resolve,
)

__all__ = ["load_async_client", "load_client"]


def load_async_client(
    settings: ClientSettings | Path | None = None, field_manager: str | None = None
) -> AsyncClient:
    """An asyncio client for `settings` (a bare Path is an explicit kubeconfig file)."""
    return build_client(AsyncClient, resolve(as_settings(settings)), field_manager)
