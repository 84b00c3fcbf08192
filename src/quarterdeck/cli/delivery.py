"""Delivery commands: ``qd render``, ``qd diff --path``, ``qd sync --path``.

``register`` adds them all to the root app with one line in cli/main.py; the
cluster-facing commands live in cli/delivery_cluster.py.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from quarterdeck.cli.output import Exit, to_json

if TYPE_CHECKING:
    from quarterdeck.delivery.manifests import Manifest
    from quarterdeck.delivery.render import Options


class Output(StrEnum):
    """Output formats of ``qd render``."""

    yaml = "yaml"
    json = "json"


class RenderType(StrEnum):
    """How to read the path: detect, plain directory, or kustomization."""

    auto = "auto"
    directory = "directory"
    kustomize = "kustomize"


def fail(message: str, code: int = Exit.ERROR) -> typer.Exit:
    """Print a one-line error and return the Exit to raise (2: bad input or an error)."""
    sys.stderr.write(f"error: {message}\n")
    return typer.Exit(int(code))


def format_manifests(manifests: list[Manifest], output: Output) -> str:
    """Manifests as multi-document YAML or a JSON ``v1 List``."""
    from quarterdeck.cli.output import to_yaml_stream

    objs = [m.obj for m in manifests]
    if output is Output.json:
        return to_json({"apiVersion": "v1", "kind": "List", "items": objs}) + "\n"
    return to_yaml_stream(objs)


def render_path(path: Path, root: Path | None, options: Options) -> list[Manifest]:
    """Render ``path`` bounded by ``root`` (default: the path itself); exits 2 on errors."""
    from quarterdeck.delivery.render import RenderError, render

    if not path.exists():
        raise fail(f"{path}: no such directory")
    if not path.is_dir():
        raise fail(f"{path} is a file: give the directory that holds it")
    base = (root or path).resolve()
    try:
        rel = path.resolve().relative_to(base).as_posix()
    except ValueError:
        raise fail(f"{path} is not inside the root {root}") from None
    try:
        return render(base, rel, options)
    except RenderError as err:
        raise fail(where_typed(str(err), base, root or path)) from None


def where_typed(message: str, base: Path, typed: Path) -> str:
    """A render error's ``file:line`` with the directory as the user typed it."""
    first = message.split(":", 1)[0]
    if first and not first.startswith(("/", "path ")) and (base / first).exists():
        return f"{(typed / first).as_posix()}{message[len(first):]}"
    return message


def render_command(
    path: Annotated[
        Path, typer.Argument(help="Directory to render (plain YAML or kustomization).")
    ],
    output: Annotated[Output, typer.Option("--output", "-o", help="Output format.")] = Output.yaml,
    type_: Annotated[
        RenderType, typer.Option("--type", help="How to read PATH.")
    ] = RenderType.auto,
    namespace: Annotated[str, typer.Option("--namespace", "-n", help="Target namespace.")] = "",
    name_prefix: Annotated[str, typer.Option(help="Prefix for every object name.")] = "",
    root: Annotated[
        Path | None,
        typer.Option(help="Repository root the render may not leave (default: PATH)."),
    ] = None,
    allow_remote_bases: Annotated[bool, typer.Option(help="Let kustomize fetch remote bases.")] = (
        False
    ),
) -> None:
    """Print the objects PATH renders to, exactly as `qd sync` would apply them."""
    from quarterdeck.delivery.render import Options

    options = Options(
        type=type_.value,  # type: ignore[arg-type]
        target_namespace=namespace,
        name_prefix=name_prefix,
        allow_remote_bases=allow_remote_bases,
    )
    manifests = render_path(path, root, options)
    sys.stdout.write(format_manifests(manifests, output))


def register(app: typer.Typer) -> None:
    """Add the delivery commands to the root ``qd`` app."""
    from quarterdeck.cli import delivery_apps
    from quarterdeck.cli.delivery_cluster import diff_command, sync_command

    app.command("render")(render_command)
    app.command("diff")(diff_command)
    app.command("sync")(sync_command)
    for command in (
        delivery_apps.history,
        delivery_apps.rollback,
        delivery_apps.suspend,
        delivery_apps.resume,
    ):
        app.command()(command)
    app.command("import")(delivery_apps.import_command)
