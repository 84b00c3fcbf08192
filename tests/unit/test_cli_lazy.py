"""`qd` imports a command's module only when needed, and is the same CLI as before.

The lazy app (cli/main.py `LAZY`, cli/lazy.py) is compared with the app built eagerly from
the same registrations: every command's help, the top-level listing (order and short
help) and completions must be identical. The start-up property itself is checked in a
fresh interpreter by the modules it loaded, never by time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.core import TyperCommand, TyperGroup
from typer.testing import CliRunner

from quarterdeck.cli.main import LAZY, build

EAGER = build(lazy=False)
LAZY_APP = build()
#: Each tree is built once (typer's CliRunner would rebuild all 49 commands per call).
CLIS = {"eager": typer.main.get_command(EAGER), "lazy": typer.main.get_command(LAZY_APP)}

#: Modules `qd --help` and command-name completion have no need of.
HEAVY = ("pydantic", "lightkube", "httpx2", "yaml", "structlog", "rich", "msgspec", "numpy")

_PROBE = """
import json, os, sys
from quarterdeck.cli.main import app
try:
    app(sys.argv[1:], prog_name="qd")
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def _modules_after(args: list[str], env: dict[str, str] | None = None) -> set[str]:
    """The modules a fresh interpreter holds after running `qd ARGS`."""
    import os

    result = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )
    return set(json.loads(result.stderr.strip().splitlines()[-1]))


def _run(which: str, args: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    """Exit code and output of `qd ARGS` on the eager or the lazy tree."""
    with CliRunner().isolation(env=env) as (_, _, output):
        try:
            CLIS[which].main(args=args, prog_name="qd")
            code = 0
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 1
        return code, output.getvalue().decode()


def _same(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    lazy = _run("lazy", args, env)
    assert lazy == _run("eager", args, env)
    return lazy


def _top(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def test_top_level_help_imports_no_command_module_and_nothing_heavy() -> None:
    modules = _modules_after(["--help"])
    assert not _top(modules) & set(HEAVY)
    commands = {m for m in modules if m.startswith("quarterdeck.cli.")}
    assert commands == {"quarterdeck.cli.lazy", "quarterdeck.cli.main", "quarterdeck.cli.options"}


def test_a_commands_help_imports_only_its_module() -> None:
    modules = _modules_after(["get", "--help"])
    assert "quarterdeck.cli.get" in modules
    assert not {"quarterdeck.cli.queue", "quarterdeck.cli.delivery"} & modules
    assert not _top(modules) & set(HEAVY)


def test_completing_a_command_name_imports_no_command_module() -> None:
    env = {"_QD_COMPLETE": "complete_bash", "COMP_WORDS": "qd ge", "COMP_CWORD": "1"}
    modules = _modules_after([], env)
    assert not _top(modules) & set(HEAVY)
    assert "quarterdeck.cli.get" not in modules


def _paths(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    if isinstance(command, TyperGroup):
        for name, sub in command.commands.items():
            yield from _paths(sub, (*path, name))


EAGER_PATHS = list(_paths(CLIS["eager"]))


def test_the_table_lists_the_commands_in_the_order_the_app_has_them() -> None:
    eager = list(CLIS["eager"].commands)  # type: ignore[attr-defined]
    assert eager == ["version", *(e.name for e in LAZY)]
    assert list(_paths(typer.main.get_command(LAZY_APP))) == EAGER_PATHS


@pytest.mark.parametrize("entry", LAZY, ids=[e.name for e in LAZY])
def test_each_entrys_summary_gives_its_commands_short_help(entry: Any) -> None:
    """When this fails, copy the command's new first sentence into LAZY in cli/main.py."""
    real = CLIS["eager"].commands[entry.name]  # type: ignore[attr-defined]
    shown = TyperCommand(entry.name, help=entry.summary)
    for limit in (45, 80, 1000):
        assert shown.get_short_help_str(limit) == real.get_short_help_str(limit)


@pytest.mark.parametrize("columns", ["60", "100", "250"])
def test_top_level_help_is_the_eager_apps_at_every_width(columns: str) -> None:
    assert _same(["--help"], {"COLUMNS": columns})[0] == 0


@pytest.mark.parametrize("path", EAGER_PATHS[1:], ids=[" ".join(p) for p in EAGER_PATHS[1:]])
def test_every_commands_help_is_the_eager_apps(path: tuple[str, ...]) -> None:
    assert _same([*path, "--help"])[0] == 0


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
@pytest.mark.parametrize("line", ["qd ", "qd q", "qd -", "qd queue ", "qd get -", "qd nope "])
def test_completions_are_the_eager_apps(shell: str, line: str) -> None:
    env = {"_QD_COMPLETE": f"complete_{shell}", "_TYPER_COMPLETE_ARGS": line}
    env |= {"COMP_WORDS": line, "COMP_CWORD": str(len(line.split(" ")) - 1)}
    env |= {"_TYPER_COMPLETE_FISH_ACTION": "get-args"}
    assert _same([], env)[1]


@pytest.mark.parametrize("args", [["nope"], ["gett"], ["--bogus"], ["get"], ["queue"]])
def test_mistakes_end_as_the_eager_app_ends_them(args: list[str]) -> None:
    assert _same(args)[0] == 2
