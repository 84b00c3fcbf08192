"""The `qd` command: one typer app, one sub-app per command group.

Every command module imports only typer and the standard library at the top and its
heavy dependencies (lightkube, numpy, rich, the cores) inside the commands: `qd --help`
and Tab completion import all of them (docs/benchmarks.md has the numbers).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer.core import TyperGroup, TyperOption

from quarterdeck.cli import delivery, dev, get, policy, queue, simulate
from quarterdeck.cli.demo import demo


def _flags_without_metavar(command: Any) -> None:
    """typer's help prints `<bool>` after every on/off flag; kubectl's help prints nothing."""
    from typer._click import Context

    help_option = command.get_help_option(Context(command))
    for param in [*command.params, help_option]:
        if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""
    if isinstance(command, TyperGroup):
        for sub in command.commands.values():
            _flags_without_metavar(sub)


class QdGroup(TyperGroup):
    """The root group: fixes the flags' help once, for the process and for CliRunner alike."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        _flags_without_metavar(self)
        return super().main(*args, **kwargs)


app = typer.Typer(
    cls=QdGroup,
    rich_markup_mode=None,
    help="quarterdeck: a Kubernetes platform control plane.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from quarterdeck import __version__

        typer.echo(f"qd {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """quarterdeck: GitOps delivery, GPU queueing and placement, guardrails, showback."""


@app.command()
def version() -> None:
    """Print the quarterdeck version."""
    _print_version(True)


app.add_typer(dev.app, name="dev")
app.command()(demo)
app.add_typer(simulate.app, name="simulate")
delivery.register(app)
get.register(app)
policy.register(app)
app.add_typer(queue.app, name="queue")
