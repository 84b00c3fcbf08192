"""The `qd` command: one typer app, one sub-app per command group.

Every command module imports only typer and the standard library at the top and its
heavy dependencies (lightkube, numpy, rich, the cores) inside the commands: `qd --help`
and Tab completion import all of them (docs/benchmarks.md has the numbers).
"""

from __future__ import annotations

import typer

from quarterdeck.cli import (
    audit,
    delivery,
    dev,
    get,
    install,
    operator,
    policy,
    queue,
    showback,
    simulate,
)
from quarterdeck.cli.dashboard import dashboard as dashboard_command
from quarterdeck.cli.demo import demo
from quarterdeck.cli.options import VersionOpt, version_callback

app = typer.Typer(
    rich_markup_mode=None,  # click's plain help, as kubectl's: no rich, no markdown-it import
    help="quarterdeck: a Kubernetes platform control plane.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def main(version: VersionOpt = False) -> None:
    """quarterdeck: GitOps delivery, GPU queueing and placement, guardrails, showback."""


@app.command()
def version() -> None:
    """Print the quarterdeck version."""
    version_callback(True)


app.add_typer(dev.app, name="dev")
app.command()(demo)
app.add_typer(simulate.app, name="simulate")
delivery.register(app)
get.register(app)
policy.register(app)
audit.register(app)
app.add_typer(queue.app, name="queue")
app.command("operator")(operator.operator)
install.register(app)
showback.register(app)
app.command("dashboard")(dashboard_command)
