"""The `qd` command: one typer app, one sub-app per command group."""

import typer

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


from quarterdeck.cli import dev  # noqa: E402

app.add_typer(dev.app, name="dev")

from quarterdeck.cli.demo import demo  # noqa: E402

app.command()(demo)

from quarterdeck.cli import queue  # noqa: E402

app.add_typer(queue.app, name="queue")
