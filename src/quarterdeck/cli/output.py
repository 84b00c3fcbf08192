"""Output conventions shared by every `qd` command.

`-o table|wide|yaml|json|name` (unknown values refused by typer), tables that never cut
a name, errors as one line on stderr and the exit codes of docs/cli.md. Kept light to
import (rich is loaded only when a table is drawn on a terminal): `qd --help` and Tab
completion import every command module.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from enum import IntEnum, StrEnum
from typing import Any, NoReturn

import typer


class Exit(IntEnum):
    """The exit codes of every `qd` command (README.md, docs/cli.md)."""

    OK = 0  # success, or nothing to report
    FINDING = 1  # a finding: diff has changes, check denied, a test failed, not healthy
    ERROR = 2  # bad input or an error
    UNREACHABLE = 3  # cannot reach the cluster


class OutputFormat(StrEnum):
    """Formats of commands that print reports (check, diff, queue ...)."""

    table = "table"
    yaml = "yaml"
    json = "json"


class ObjectFormat(StrEnum):
    """Formats of commands that print Kubernetes objects (`qd get`), as kubectl's `-o`."""

    table = "table"
    wide = "wide"
    yaml = "yaml"
    json = "json"
    name = "name"


OUTPUT_OPTION = typer.Option(OutputFormat.table, "--output", "-o", help="table, yaml or json.")


class Cell(str):
    """A table cell that carries rich markup (colours); plain `str` cells are literal text."""

    __slots__ = ()


def to_json(data: Any) -> str:
    """JSON as kubectl prints it (2 spaces); dates and other scalars become strings."""
    return json.dumps(data, indent=2, default=str)


def to_yaml(data: Any) -> str:
    from quarterdeck import kyaml

    return kyaml.dump(data)


def to_yaml_stream(docs: list[Any]) -> str:
    """Several documents separated by `---` (for piping to `kubectl apply -f -`)."""
    from quarterdeck import kyaml

    return kyaml.dump_all(docs) if docs else ""


def emit(data: Any, fmt: StrEnum) -> bool:
    """Print data as yaml/json and return True; return False for table (the caller draws it)."""
    if fmt.value == "json":
        sys.stdout.write(to_json(data) + "\n")
        return True
    if fmt.value == "yaml":
        sys.stdout.write(to_yaml(data))
        return True
    return False


def plain_columns(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded with three spaces like kubectl's tab writer; nothing is ever cut."""
    body = [[_plain(c).replace("\n", "; ") for c in row] for row in rows]
    cells = [[h.upper() for h in headers], *body]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _plain(cell: str) -> str:
    return _strip_markup(cell) if isinstance(cell, Cell) else str(cell)


def _strip_markup(text: str) -> str:
    from rich.text import Text

    return Text.from_markup(text).plain


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, title: str = "") -> None:
    """Draw a table: rich on a terminal (long cells fold, never "…"), plain columns in a pipe."""
    if not sys.stdout.isatty():
        if title:
            sys.stdout.write(title + "\n")
        sys.stdout.write(plain_columns(headers, rows))
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    grid = Table(box=None, header_style="bold", title=title or None, pad_edge=False)
    for header in headers:
        grid.add_column(str(header).upper(), overflow="fold")
    for row in rows:
        grid.add_row(*(Text.from_markup(c) if isinstance(c, Cell) else Text(str(c)) for c in row))
    Console().print(grid)


def note(message: str) -> None:
    """A line for the user on stderr (warnings, hints); stdout stays parseable."""
    sys.stderr.write(message + "\n")


def fail(message: str, code: int = Exit.ERROR) -> NoReturn:
    """One-line error on stderr, then exit with `code` (default 2: bad input or an error)."""
    sys.stderr.write(f"error: {message}\n")
    raise typer.Exit(int(code))
