"""A command group that imports a command's module only when that command is needed.

Why: `qd --help` and Tab completion used to import every command module and build every
command, and typer 0.29 builds a pydantic adapter for each parameter it processes (even
for a value that is None, where the adapter is never used). Here the top-level listing
comes from a table of names and short help (`LazyEntry`), a command is built on its first
lookup, and a parameter's adapter is built on the first value that needs it. The table is
held equal to the real commands by tests/unit/test_cli_lazy.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar

import typer
from typer import _click
from typer._click.shell_completion import CompletionItem
from typer.core import TyperCommand, TyperGroup, _TyperParameter

#: Adds one module's commands to a Typer app (the module is imported inside).
Register = Callable[[typer.Typer], None]


@dataclass(frozen=True)
class LazyEntry:
    """A command known by its name and short help until it is looked up."""

    name: str
    register: Register
    summary: str  # the first paragraph of the command's help, as typer gives it


class _DeferredCoercion:
    """typer's coercion for one parameter, its pydantic adapter built on first real use.

    For None and for a member of the parameter's own Enum typer returns the value
    untouched; only those skip the adapter, so every coerced value is typer's own.
    """

    def __init__(self, param: Any) -> None:
        self._descriptor = param.type_descriptor
        self._built: Any = None

    def coerce(self, value: Any, param: Any, ctx: _click.Context) -> Any:
        if value is None:
            return () if (param.multiple or param.nargs == -1) else None
        annotation = self._descriptor.annotation
        plain_enum = isinstance(annotation, type) and issubclass(annotation, Enum)
        if (
            plain_enum
            and type(value) is annotation
            and self._descriptor.parameter_info.parser is None
        ):
            return value
        if self._built is None:
            from typer._coercion import build_runtime_param

            self._built = build_runtime_param(self._descriptor)
        return self._built.coerce(value, param=param, ctx=ctx)


def _deferred_runtime_param(self: _TyperParameter) -> Any:
    if self._runtime_param is None:
        self._runtime_param = _DeferredCoercion(self)  # type: ignore[assignment]
    return self._runtime_param


#: typer has no hook for a parameter class (typer.main builds TyperOption/TyperArgument
#: itself), so its one lazy accessor is replaced: the parameter's coercion is the same,
#: only the moment the adapter is built moves. test_cli_lazy.py fails if this stops working.
_TyperParameter.get_runtime_param = _deferred_runtime_param  # type: ignore[method-assign]


class _LazyCommands(MutableMapping[str, _click.Command]):
    """A group's commands: the eager ones, then the table's, each built on first access."""

    def __init__(
        self,
        eager: MutableMapping[str, _click.Command],
        entries: Sequence[LazyEntry],
        settings: dict[str, Any],
    ) -> None:
        self._built: dict[str, _click.Command] = dict(eager)
        self._order = [*eager, *(e.name for e in entries if e.name not in eager)]
        self._entries = {e.name: e for e in entries}
        self._settings = settings

    def loaded(self, name: str) -> _click.Command | None:
        return self._built.get(name)

    def entry(self, name: str) -> LazyEntry | None:
        return self._entries.get(name)

    def __getitem__(self, name: str) -> _click.Command:
        if name not in self._built:
            self._load(self._entries[name])  # KeyError for a name we do not have
        return self._built[name]

    def _load(self, entry: LazyEntry) -> None:
        scratch = typer.Typer(**self._settings)
        entry.register(scratch)
        group = typer.main.get_group(scratch)
        for name, command in group.commands.items():
            if name in self._entries and name not in self._built:
                self._built[name] = command

    def __setitem__(self, name: str, command: _click.Command) -> None:
        self._built[name] = command
        if name not in self._order:
            self._order.append(name)

    def __delitem__(self, name: str) -> None:
        self._order.remove(name)
        self._built.pop(name, None)
        self._entries.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._order))

    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, name: object) -> bool:
        return name in self._order


class LazyGroup(TyperGroup):
    """The root `qd` group: `entries` (set by a subclass) are imported on demand.

    `typer_settings` are the keyword arguments of the app's own `typer.Typer(...)` that
    shape its commands, so a command built late is the one the app would have built.
    """

    entries: ClassVar[Sequence[LazyEntry]] = ()
    typer_settings: ClassVar[dict[str, Any]] = {}

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _LazyCommands(self.commands, self.entries, dict(self.typer_settings))

    def list_commands(self, ctx: _click.Context) -> list[str]:
        return list(self.commands)

    def _preview(self, name: str) -> _click.Command | None:
        """The command if built, else a stand-in with its name and short help."""
        commands = self.commands
        assert isinstance(commands, _LazyCommands)
        built = commands.loaded(name)
        if built is not None:
            return built
        entry = commands.entry(name)
        return None if entry is None else TyperCommand(name, help=entry.summary)

    def format_commands(self, ctx: _click.Context, formatter: _click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self._preview(name)
            if command is not None and not command.hidden:
                rows.append((name, command))
        if rows:
            limit = formatter.width - 6 - max(len(name) for name, _ in rows)
            with formatter.section("Commands"):
                formatter.write_dl([(name, cmd.get_short_help_str(limit)) for name, cmd in rows])

    def shell_complete(self, ctx: _click.Context, incomplete: str) -> list[CompletionItem]:
        results = []
        for name in self.list_commands(ctx):
            command = self._preview(name) if name.startswith(incomplete) else None
            if command is not None and not command.hidden:
                results.append(CompletionItem(name, help=command.get_short_help_str()))
        results.extend(super(TyperGroup, self).shell_complete(ctx, incomplete))  # the options
        return results
