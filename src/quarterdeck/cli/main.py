"""The `qd` command: one typer app, one sub-app per command group."""

import typer

from quarterdeck.cli import delivery, dev, install, policy, queue, simulate
from quarterdeck.cli.demo import demo

app = typer.Typer(
    help="quarterdeck: a Kubernetes platform control plane.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def main() -> None:
    """quarterdeck: GitOps delivery, GPU queueing and placement, guardrails, showback."""


@app.command()
def version() -> None:
    """Print the quarterdeck version."""
    from quarterdeck import __version__

    typer.echo(__version__)


app.add_typer(dev.app, name="dev")
app.command()(demo)
app.add_typer(simulate.app, name="simulate")
delivery.register(app)
policy.register(app)
app.add_typer(queue.app, name="queue")
install.register(app)
