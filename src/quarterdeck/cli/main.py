"""The `qd` command: one typer app, one sub-app per command group."""

import typer

from quarterdeck.cli.policy import register as register_policy

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
register_policy(app)
