"""Output conventions shared by every `qd` command: `-o table|yaml|json`, errors on stderr."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any, NoReturn

import typer
import yaml
from rich.console import Console

console = Console()
err_console = Console(stderr=True)


class OutputFormat(StrEnum):
    table = "table"
    yaml = "yaml"
    json = "json"


OUTPUT_OPTION = typer.Option(OutputFormat.table, "--output", "-o", help="table, yaml or json")


def emit(data: Any, fmt: OutputFormat) -> bool:
    """Print data as yaml/json and return True; return False for table (the caller draws it)."""
    if fmt is OutputFormat.json:
        typer.echo(json.dumps(data, indent=2, default=str))
        return True
    if fmt is OutputFormat.yaml:
        typer.echo(yaml.safe_dump(data, sort_keys=False).rstrip())
        return True
    return False


def fail(message: str, code: int = 1) -> NoReturn:
    """One-line error in red on stderr, then exit with `code`."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)
