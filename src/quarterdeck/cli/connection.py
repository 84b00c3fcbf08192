"""How a `qd` command reaches the cluster and what it says when that fails.

Exit 3 when the API server cannot be reached, 2 for every other error, with one line
that names the object or kind the user asked for.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from quarterdeck.cli.output import Exit, fail

if TYPE_CHECKING:
    from lightkube import Client


def connect(kubeconfig: Path | None, field_manager: str | None = None) -> Client:
    """A client for the kubeconfig (or the default one); exits 2 on a bad kubeconfig."""
    from quarterdeck.kube.client import describe_target, load_client

    try:
        return load_client(kubeconfig, field_manager=field_manager)
    except Exception as err:  # lightkube raises several config errors
        fail(f"cannot load kubeconfig {describe_target(kubeconfig)}: {err}")


@contextmanager
def cluster_errors(what: str) -> Iterator[None]:
    """Turn client errors into one line and the exit code of docs/cli.md."""
    import httpx2 as httpx
    from lightkube import ApiError

    try:
        yield
    except ApiError as err:
        status = err.status
        if status.code == 404 and status.details and not status.details.name:
            fail(f"the cluster has no {what} (are quarterdeck's CRDs installed?)")
        fail(status.message or f"{what}: {status.reason}")
    except (httpx.ConnectError, httpx.ConnectTimeout) as err:
        fail(f"cannot reach the cluster: {err}", Exit.UNREACHABLE)
