"""`qd install` and `qd uninstall`: the operator, its RBAC and CRDs in a cluster.

Both render deploy/ with the real kustomize; `--export` prints what would be applied
(as `flux install --export` does) so it can go into a GitOps repository instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from quarterdeck.cli.options import AllowExecOpt, ContextOpt, KubeconfigOpt, cluster_errors
from quarterdeck.cli.output import fail, note
from quarterdeck.install.base import DEFAULT_IMAGE, DEFAULT_NAMESPACE

ImageOpt = Annotated[
    str, typer.Option("--image", metavar="REF", help="Operator image (name[:tag][@digest]).")
]
InstallNamespaceOpt = Annotated[
    str, typer.Option("--namespace", "-n", metavar="NS", help="Namespace the operator runs in.")
]


def register(app: typer.Typer) -> None:
    app.command("install")(install)
    app.command("uninstall")(uninstall)


@contextmanager
def _errors() -> Iterator[None]:
    """Our own refusals exit 2 in one line; API and kubeconfig failures as every command."""
    from quarterdeck.install.base import InstallInputError
    from quarterdeck.install.plan import UninstallRefused
    from quarterdeck.kube.crds import CRDInstallError

    with cluster_errors():
        try:
            yield
        except (InstallInputError, CRDInstallError, UninstallRefused) as err:
            fail(str(err))


def _client(kubeconfig: Any, context: str | None, allow_exec: bool) -> Any:
    from quarterdeck.cli.options import client_from

    return client_from(kubeconfig, context, allow_exec_plugins=allow_exec)[0]


def install(
    export: Annotated[bool, typer.Option(help="Print the manifests instead of applying.")] = False,
    image: ImageOpt = DEFAULT_IMAGE,
    namespace: InstallNamespaceOpt = DEFAULT_NAMESPACE,
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
    allow_exec_plugins: AllowExecOpt = False,
) -> None:
    """Install or upgrade the operator: CRDs, RBAC, Deployment, Services (server-side apply).

    A second install with the same flags changes nothing.
    """
    from quarterdeck.install.base import render, render_text

    with _errors():
        if export:
            typer.echo(render_text(namespace, image), nl=False)
            return
        from quarterdeck.install.cluster import apply_install

        objects = render(namespace, image)
        client = _client(kubeconfig, context, allow_exec_plugins)
        changed = apply_install(client, objects, note)
    typer.echo(f"quarterdeck installed in {namespace} ({changed} changed)")


def uninstall(
    force: Annotated[
        bool, typer.Option(help="Even with Applications left; also delete the CRDs.")
    ] = False,
    namespace: InstallNamespaceOpt = DEFAULT_NAMESPACE,
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
    allow_exec_plugins: AllowExecOpt = False,
) -> None:
    """Remove the operator, its RBAC and webhooks; the CRDs only with --force.

    Objects that Applications manage are never deleted.
    """
    from quarterdeck.install.base import render
    from quarterdeck.install.cluster import applications, carry_out_removal, custom_object_counts
    from quarterdeck.install.plan import removal

    with _errors():
        objects = render(namespace, DEFAULT_IMAGE)
        client = _client(kubeconfig, context, allow_exec_plugins)
        apps = applications(client)
        crds = [o for o in objects if o["kind"] == "CustomResourceDefinition"]
        counts = custom_object_counts(client, crds) if force else {}
        plan = removal(objects, apps, counts, force=force)
        for line in plan.warnings:
            note(f"warning: {line}")
        for line in plan.kept:
            note(f"kept {line}")
        carry_out_removal(client, plan, note)
    typer.echo(f"quarterdeck uninstalled from {namespace}")
