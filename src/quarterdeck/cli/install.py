"""`qd install` and `qd uninstall`: the operator, its RBAC and CRDs in a cluster.

Both render deploy/ with the real kustomize; `--export` prints what would be applied
(as `flux install --export` does) so it can go into a GitOps repository instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from quarterdeck.cli.output import err_console, fail
from quarterdeck.install.base import DEFAULT_IMAGE, DEFAULT_NAMESPACE, InstallInputError

ImageOpt = Annotated[str, typer.Option("--image", help="Operator image (name[:tag][@digest]).")]
NamespaceOpt = Annotated[
    str, typer.Option("--namespace", "-n", help="Namespace the operator runs in.")
]
KubeconfigOpt = Annotated[
    Path | None, typer.Option("--kubeconfig", help="Kubeconfig (default: $KUBECONFIG).")
]
ContextOpt = Annotated[str | None, typer.Option("--context", help="Kubeconfig context.")]


def register(app: typer.Typer) -> None:
    app.command("install")(install)
    app.command("uninstall")(uninstall)


def _say(line: str) -> None:
    err_console.print(line, highlight=False, soft_wrap=True)


def _render(namespace: str, image: str) -> list[dict[str, Any]]:
    from quarterdeck.install.base import render

    try:
        return render(namespace, image)
    except InstallInputError as err:
        fail(str(err), 2)


def _client(kubeconfig: Path | None, context: str | None) -> Any:
    from quarterdeck.kube.config import ClientSettings, ConfigError, load_client

    try:
        return load_client(ClientSettings(kubeconfig=kubeconfig, context=context))
    except ConfigError as err:
        fail(str(err), 2)


@contextlib.contextmanager
def _cluster_errors() -> Iterator[None]:
    """API and connection errors as one line: 3 when unreachable, else 2."""
    import httpx
    import httpx2
    from lightkube import ApiError

    from quarterdeck.install.plan import UninstallRefused
    from quarterdeck.kube.crds import CRDInstallError

    try:
        yield
    except (httpx2.TransportError, httpx.TransportError, ConnectionError) as err:
        fail(f"cannot reach the cluster: {err}", 3)
    except ApiError as err:
        fail(f"{err.status.reason or 'error'}: {err.status.message}", 2)
    except (CRDInstallError, UninstallRefused) as err:
        fail(str(err), 2)


def install(
    export: Annotated[bool, typer.Option(help="Print the manifests instead of applying.")] = False,
    image: ImageOpt = DEFAULT_IMAGE,
    namespace: NamespaceOpt = DEFAULT_NAMESPACE,
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
) -> None:
    """Install or upgrade the operator: CRDs, RBAC, Deployment, Services (server-side apply)."""
    if export:
        from quarterdeck.install.base import render_text

        try:
            typer.echo(render_text(namespace, image), nl=False)
        except InstallInputError as err:
            fail(str(err), 2)
        return
    from quarterdeck.install.cluster import apply_install

    objects = _render(namespace, image)
    client = _client(kubeconfig, context)
    with _cluster_errors():
        changed = apply_install(client, objects, _say)
    typer.echo(f"quarterdeck installed in {namespace} ({changed} changed)")


def uninstall(
    force: Annotated[
        bool, typer.Option(help="Even with Applications left; also delete the CRDs.")
    ] = False,
    namespace: NamespaceOpt = DEFAULT_NAMESPACE,
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
) -> None:
    """Remove the operator, its RBAC and webhooks; the CRDs only with --force.

    Objects that Applications manage are never deleted.
    """
    from quarterdeck.install.cluster import applications, carry_out_removal, custom_object_counts
    from quarterdeck.install.plan import removal

    objects = _render(namespace, DEFAULT_IMAGE)
    client = _client(kubeconfig, context)
    warn: Callable[[str], None] = lambda line: _say(f"[yellow]warning:[/] {line}")  # noqa: E731
    with _cluster_errors():
        apps = applications(client)
        crds = [o for o in objects if o["kind"] == "CustomResourceDefinition"]
        counts = custom_object_counts(client, crds) if force else {}
        plan = removal(objects, apps, counts, force=force)
        for line in plan.warnings:
            warn(line)
        for line in plan.kept:
            _say(f"kept {line}")
        carry_out_removal(client, plan, _say)
    typer.echo(f"quarterdeck uninstalled from {namespace}")
