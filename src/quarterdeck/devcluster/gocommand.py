"""Build one command of a pinned Go module from the module proxy into the binary cache.

The same path as `qd dev build` takes for Kubernetes, for any module: Helm for the
delivery renderer, Kueue and Flux for the peer benchmarks. `go install module/cmd@v`
refuses modules whose go.mod has `replace` lines, and ignores the replaces it would need,
so the build goes through a generated wrapper module (`gomod.command_wrapper`) that
requires the module and carries its published replaces plus any pins of ours.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from quarterdeck.devcluster import build, cache, gomod
from quarterdeck.devcluster.build import Progress


@dataclass(frozen=True)
class GoCommand:
    """A command to build: `package` of `module@version`, cached as `bin/NAME-VERSION`.

    `pins` are extra `old => new version` replace lines, e.g. a dependency version the
    proxy serves in place of one it does not. `ldflags` are passed to `go build`.
    """

    name: str
    module: str
    version: str
    package: str
    pins: tuple[str, ...] = ()
    ldflags: str = "-s -w"

    @property
    def path(self) -> Path:
        return cache.command_path(self.name, self.version)


def cached_command(command: GoCommand) -> Path | None:
    """The verified cached binary, None when not built; raises CorruptBinaryError if corrupt."""
    if not cache.is_recorded(command.path):
        return None
    return cache.verify_file(
        command.path,
        f"cached {command.name} {command.version} at {command.path} is corrupt "
        "(checksum mismatch): delete it and build it again",
    )


def ensure_command(command: GoCommand, progress: Progress, force: bool = False) -> Path:
    """Path of the command's verified binary, building it first when missing (or `force`).

    Progress is reported as for `qd dev build`: (step, packages done, total or None).
    A failed build raises `build.BuildError` and leaves nothing in the cache.
    """
    if not force and (path := cached_command(command)) is not None:
        return path
    label = f"{command.name} {command.version}"
    with cache.build_lock(
        f"{command.name}-{command.version}",
        lambda: progress(f"{label}: waiting for another build", 0, None),
    ):
        if not force and (path := cached_command(command)) is not None:
            return path
        return _build(command, progress)


def _build(command: GoCommand, progress: Progress) -> Path:
    workdir = cache.home() / "build" / f"{command.name}-{command.version}"
    workdir.mkdir(parents=True, exist_ok=True)
    label = f"{command.name} {command.version}"
    progress(f"{label}: resolving modules", 0, None)
    go = build.find_go()
    upstream = _upstream_gomod(go, command, workdir)
    needs = gomod.go_directive(upstream)
    go = build.find_go(needs, f"{command.module} {command.version}")
    text = gomod.command_wrapper(
        command.name, command.module, command.version, upstream, command.pins
    )
    (workdir / "go.mod").write_text(text)
    (workdir / "go.sum").write_text("")
    out = build.compile_packages(go, workdir, [command.package], command.ldflags, label, progress)
    build.install_binary(out / build.executable_name(command.package), command.path)
    return cache.verify_file(command.path, f"{command.path} changed while it was installed")


def _upstream_gomod(go: str, command: GoCommand, workdir: Path) -> str:
    info = json.loads(
        build.run_go(
            [go, "mod", "download", "-json", f"{command.module}@{command.version}"],
            workdir,
            f"downloading {command.module}@{command.version}",
        )
    )
    return Path(info["GoMod"]).read_text()
