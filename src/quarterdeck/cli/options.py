"""The options every cluster-facing `qd` command shares, and how their failures end.

Flags mean what they mean in kubectl: `--kubeconfig`, `--context`, `-n/--namespace` (default:
the context's namespace), `-A/--all-namespaces`, `-o table|wide|yaml|json|name`. A command
gets its client from `client_from(...)` and is wrapped in `cluster_command` (or runs inside
`with cluster_errors():`), so a kubeconfig problem or a failed API call ends as one line on
stderr with exit code 3 (cluster unreachable) or 2 (any other error), never a traceback.

Imports of lightkube are deferred: `qd --help` and Tab completion must stay fast.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, ParamSpec, TypeVar

import typer

if TYPE_CHECKING:
    from lightkube import Client

    from quarterdeck.kube.config import ClientSettings, Resolved

P = ParamSpec("P")
R = TypeVar("R")


class Output(StrEnum):
    """Output formats, as kubectl names them."""

    table = "table"
    wide = "wide"
    yaml = "yaml"
    json = "json"
    name = "name"


KubeconfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--kubeconfig",
        metavar="FILE",
        help="Kubeconfig file (default: $KUBECONFIG, merged as kubectl does; else ~/.kube/config).",
    ),
]
ContextOpt = Annotated[
    str | None,
    typer.Option("--context", metavar="NAME", help="Kubeconfig context (default: current)."),
]
NamespaceOpt = Annotated[
    str | None,
    typer.Option(
        "--namespace", "-n", metavar="NS", help="Namespace (default: the context's namespace)."
    ),
]
AllNamespacesOpt = Annotated[
    bool, typer.Option("--all-namespaces", "-A", help="Across all namespaces.")
]
OutputOpt = Annotated[
    Output, typer.Option("--output", "-o", help="table, wide, yaml, json or name.")
]
AllowExecOpt = Annotated[
    bool,
    typer.Option(
        "--allow-exec-plugins", help="Run the kubeconfig's exec credential plugin, if any."
    ),
]

#: The cluster the running command talks to, so an error raised anywhere below it can be
#: reported with its context name without passing the name through every call.
_target: ContextVar[Resolved | None] = ContextVar("qd_target", default=None)


def client_from(
    kubeconfig: Path | None = None,
    context: str | None = None,
    namespace: str | None = None,
    allow_exec_plugins: bool = False,
    *,
    field_manager: str | None = None,
) -> tuple[Client, Resolved]:
    """A client for the flags given, and what they resolved to (context, namespace, server)."""
    from lightkube import Client

    from quarterdeck.kube.config import ClientSettings, build_client, resolve

    settings = ClientSettings(kubeconfig, context, namespace, allow_exec_plugins)
    resolved = resolve(settings)
    _target.set(resolved)
    return build_client(Client, resolved, field_manager), resolved


def target(
    kubeconfig: Path | None = None,
    context: str | None = None,
    namespace: str | None = None,
    allow_exec_plugins: bool = False,
) -> tuple[ClientSettings, str]:
    """The flags as ClientSettings with the namespace decided (-n, else the context's), and
    that namespace. For commands that pass settings on to code that connects later; a bad
    kubeconfig ends the command here, in one line with exit 2."""
    from quarterdeck.kube.config import ClientSettings, resolve

    with cluster_errors():
        resolved = resolve(ClientSettings(kubeconfig, context, namespace, allow_exec_plugins))
    _target.set(resolved)
    chosen = ClientSettings(kubeconfig, resolved.context, resolved.namespace, allow_exec_plugins)
    return chosen, resolved.namespace


def version_callback(value: bool) -> None:
    """`qd --version`: print the version and stop before any command runs."""
    if value:
        from quarterdeck import __version__

        typer.echo(__version__)
        raise typer.Exit()


VersionOpt = Annotated[
    bool,
    typer.Option(
        "--version", callback=version_callback, is_eager=True, help="Print the version and exit."
    ),
]


def connect(kubeconfig: Path | ClientSettings | None, field_manager: str | None = None) -> Client:
    """A client for the kubeconfig (or as kubectl would choose); exits 2 on a bad config."""
    from quarterdeck.kube.config import load_client

    with cluster_errors():
        return load_client(kubeconfig, field_manager=field_manager)


@contextmanager
def cluster_errors(what: str | None = None) -> Iterator[None]:
    """Turn a kubeconfig or API failure into one line on stderr and exit 3 or 2; with
    `what` (a kind, "queueing objects"), a kind the cluster does not serve at all says
    so and asks whether quarterdeck's CRDs are installed."""
    try:
        yield
    except Exception as err:
        line, code = describe(err)
        if line is None:
            raise
        if what is not None:
            from quarterdeck.kube.errors import NotFound, classify

            typed = classify(err)
            if isinstance(typed, NotFound) and typed.api_missing:
                line, code = f"the cluster has no {what} (are quarterdeck's CRDs installed?)", 2
        typer.echo(f"error: {line}", err=True)
        raise typer.Exit(code) from None


def cluster_command(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorate a typer command so that it ends as `cluster_errors` says."""

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with cluster_errors():
            return fn(*args, **kwargs)

    return run


def describe(err: BaseException) -> tuple[str | None, int]:
    """The one-line message and exit code for `err`, or (None, 0) if it is not ours to report.

    Follows explicit causes (`raise X from api_error`), so an API failure wrapped by the
    code above it is still reported as what it is.
    """
    from lightkube import ConfigError

    from quarterdeck.kube.errors import EXIT_ERROR, classify

    target = _target.get()
    context = target.context if target is not None else None
    current: BaseException | None = err
    while current is not None:
        if isinstance(current, ConfigError):
            return " ".join(str(current).split()), EXIT_ERROR
        kube = classify(current, context=context)
        if kube is not None:
            return str(kube), kube.exit_code
        current = current.__cause__
    return None, 0
