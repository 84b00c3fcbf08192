"""The `qd` command: one typer app; each command's module is imported when it is needed.

`qd --help` lists the commands from the table below (`LAZY`: name, how to register it,
its short help) and imports none of them; `qd get ...` imports only `cli/get.py`. The
table is held equal to the commands themselves by tests/unit/test_cli_lazy.py, which also
builds the app eagerly (`register_all`) and compares every command's help. Numbers:
docs/benchmarks.md, "CLI start-up".
"""

from __future__ import annotations

from typing import Any

import typer

from quarterdeck.cli.lazy import LazyEntry, LazyGroup
from quarterdeck.cli.options import VersionOpt, version_callback

#: What shapes every command typer builds, for the app and for each late-built command.
SETTINGS: dict[str, Any] = {
    "rich_markup_mode": None,  # click's plain help, as kubectl's: no rich, no markdown-it import
    "pretty_exceptions_enable": False,
}
HELP = "quarterdeck: a Kubernetes platform control plane."


def _dev(app: typer.Typer) -> None:
    from quarterdeck.cli import dev

    app.add_typer(dev.app, name="dev")


def _demo(app: typer.Typer) -> None:
    from quarterdeck.cli.demo import demo

    app.command()(demo)


def _simulate(app: typer.Typer) -> None:
    from quarterdeck.cli import simulate

    app.add_typer(simulate.app, name="simulate")


def _delivery(app: typer.Typer) -> None:
    from quarterdeck.cli import delivery

    delivery.register(app)


def _get(app: typer.Typer) -> None:
    from quarterdeck.cli import get

    get.register(app)


def _policy(app: typer.Typer) -> None:
    from quarterdeck.cli import policy

    policy.register(app)


def _audit(app: typer.Typer) -> None:
    from quarterdeck.cli import audit

    audit.register(app)


def _queue(app: typer.Typer) -> None:
    from quarterdeck.cli import queue

    app.add_typer(queue.app, name="queue")


def _operator(app: typer.Typer) -> None:
    from quarterdeck.cli import operator

    app.command("operator")(operator.operator)


def _install(app: typer.Typer) -> None:
    from quarterdeck.cli import install

    install.register(app)


def _showback(app: typer.Typer) -> None:
    from quarterdeck.cli import showback

    showback.register(app)


def _dashboard(app: typer.Typer) -> None:
    from quarterdeck.cli.dashboard import dashboard

    app.command("dashboard")(dashboard)


#: Every module's registration, in the order the app was always built in.
REGISTER = (
    _dev, _demo, _simulate, _delivery, _get, _policy, _audit,
    _queue, _operator, _install, _showback, _dashboard,
)  # fmt: skip

#: The commands after `version`, in `qd --help` order, with their help's first paragraph.
LAZY = (
    LazyEntry("demo", _demo, "Play the platform's story: Git sync, a guardrail, GPU queues, "
              "showback, dashboard."),
    LazyEntry("render", _delivery, "Print the objects PATH renders to, exactly as `qd sync` "
              "would apply them."),
    LazyEntry("diff", _delivery, "Show what a sync of APP or --path would change (server-side "
              "dry-run): a unified diff per object."),
    LazyEntry("sync", _delivery, "Sync APP now (via the operator), or apply --path DIR directly."),
    LazyEntry("history", _delivery, "The last syncs of an Application, newest first."),
    LazyEntry("rollback", _delivery, "Pin an Application to an earlier successfully synced "
              "revision (until --unpin)."),
    LazyEntry("suspend", _delivery, "Stop syncing an Application (objects stay as they are)."),
    LazyEntry("resume", _delivery, "Sync a suspended Application again."),
    LazyEntry("import", _delivery, "Turn Flux GitRepository/Kustomization and Argo CD "
              "Application objects into ours."),
    LazyEntry("get", _get, "Show our objects as `kubectl get` would: columns, -o "
              "yaml|json|name, -A, -w."),
    LazyEntry("check", _policy, "Evaluate guardrails on manifests before they reach a cluster."),
    LazyEntry("audit", _audit, "Every change to APP's live objects: the commit that caused it "
              "(author, message), or an out-of-band edit with its field manager and whether "
              "self-heal reverted it."),
    LazyEntry("operator", _operator, "Run the controllers (delivery, queueing) until SIGTERM "
              "or SIGINT."),
    LazyEntry("install", _install, "Install or upgrade the operator: CRDs, RBAC, Deployment, "
              "Services (server-side apply)."),
    LazyEntry("uninstall", _install, "Remove the operator, its RBAC and webhooks; the CRDs "
              "only with --force."),
    LazyEntry("dashboard", _dashboard, "Serve the dashboard: Applications, queues and GPUs, "
              "for the user who signs in with a Kubernetes bearer token (every read and action "
              "checked with SubjectAccessReview)."),
    LazyEntry("dev", _dev, "Run a local control plane (etcd, kube-apiserver, "
              "controller-manager, scheduler, kwok) with fake GPU nodes."),
    LazyEntry("simulate", _simulate, "Simulate GPU placement policies on node and task traces."),
    LazyEntry("policy", _policy, "Guardrails: built-in policies, CRD, export to "
              "ValidatingAdmissionPolicy."),
    LazyEntry("incident", _audit, "Break-glass: pause self-heal for an Application for a while."),
    LazyEntry("queue", _queue, "Kueue-shaped GPU admission: queues, quotas, why pending."),
    LazyEntry("showback", _showback, "GPU-hours, idle GPU-hours and cost per team, namespace, "
              "queue, model."),
    LazyEntry("budget", _showback, "Budgets per team: GPU-hours or money per period."),
)  # fmt: skip


class QdGroup(LazyGroup):
    """The root group: the commands of `LAZY`, built on first use."""

    entries = LAZY
    typer_settings = SETTINGS


def main(version: VersionOpt = False) -> None:
    """quarterdeck: GitOps delivery, GPU queueing and placement, guardrails, showback."""


def version() -> None:
    """Print the quarterdeck version."""
    version_callback(True)


def build(lazy: bool = True) -> typer.Typer:
    """The `qd` app; `lazy=False` registers every module up front (the reference in tests)."""
    built = typer.Typer(cls=QdGroup if lazy else None, help=HELP, no_args_is_help=True, **SETTINGS)
    built.callback()(main)
    built.command()(version)
    if not lazy:
        for register in REGISTER:
            register(built)
    return built


app = build()
