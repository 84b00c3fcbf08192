"""How a `qd` command reaches the cluster and what it says when that fails.

The kubeconfig is resolved by quarterdeck.kube.config (as kubectl resolves it) and client
errors are typed by quarterdeck.kube.errors; this module turns both into one line on
stderr and the exit code of docs/cli.md: 3 when the API server cannot be reached, 2 for
every other error.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from quarterdeck.cli.output import Exit, fail

if TYPE_CHECKING:
    from lightkube import Client

    from quarterdeck.kube.config import ClientSettings


def connect(
    kubeconfig: Path | ClientSettings | None, field_manager: str | None = None
) -> Client:
    """A client for the kubeconfig (or as kubectl would choose); exits 2 on a bad config."""
    from quarterdeck.kube.config import ConfigError, load_client

    try:
        return load_client(kubeconfig, field_manager=field_manager)
    except ConfigError as err:
        fail(str(err))


@contextmanager
def cluster_errors(what: str) -> Iterator[None]:
    """cli.options.cluster_errors, plus a hint when the kind `what` itself is missing (our
    CRDs not installed) rather than one object of it."""
    from quarterdeck.cli.options import describe
    from quarterdeck.kube.errors import NotFound, classify

    try:
        yield
    except Exception as err:
        line, code = describe(err)
        if line is None:
            raise
        typed = classify(err)
        if isinstance(typed, NotFound) and typed.api_missing:
            fail(f"the cluster has no {what} (are quarterdeck's CRDs installed?)")
        fail(line, code or Exit.ERROR)
