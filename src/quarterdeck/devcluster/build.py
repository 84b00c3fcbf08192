"""Build the pinned control-plane binaries from the Go module proxy with the machine's Go.

This is the imperative shell around `gomod` (which writes the wrapper modules) and
`cache` (which says what is already built). A build streams `go build -v` so the caller
can show real progress: the total is the package count from `go list -deps`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from quarterdeck.devcluster import cache, gomod
from quarterdeck.devcluster.versions import KUBERNETES_VERSION, MIN_GO, PINS, Component

#: Called with (step label, packages done, packages total or None while unknown).
Progress = Callable[[str, int, int | None], None]

_KUBE_COMPONENTS = (Component.APISERVER, Component.CONTROLLER_MANAGER, Component.SCHEDULER)


class BuildError(RuntimeError):
    """A binary could not be built; the message says what to do."""


@dataclass(frozen=True)
class Target:
    """One `go build` run: a wrapper module and the components it yields."""

    name: str
    components: tuple[Component, ...]


TARGETS = (
    Target("etcd", (Component.ETCD,)),
    Target("kwok", (Component.KWOK,)),
    Target("kubernetes", _KUBE_COMPONENTS),
)


def go_env() -> dict[str, str]:
    """Environment for go: static binaries, no toolchain downloads, module mode.

    The caller's GOFLAGS are kept (e.g. `-p=1` to build on one core of a shared machine).
    """
    env = dict(os.environ)
    goflags = " ".join(f for f in (env.get("GOFLAGS", ""), "-mod=mod") if f)
    env.update(CGO_ENABLED="0", GOTOOLCHAIN="local", GOFLAGS=goflags, GOWORK="off")
    return env


def find_go(minimum: tuple[int, int] = MIN_GO, needed_by: str = "") -> str:
    """Path of a Go toolchain new enough for the pins, or a BuildError that says what to do."""
    needed_by = needed_by or f"Kubernetes {KUBERNETES_VERSION}"
    go = shutil.which("go")
    if go is None:
        raise BuildError(
            "Go toolchain not found on PATH: install Go "
            f"{MIN_GO[0]}.{MIN_GO[1]} or newer, then run `qd dev build`"
        )
    out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, check=False)
    m = re.match(r"go(\d+)\.(\d+)", out.stdout.strip())
    if m is None or (int(m.group(1)), int(m.group(2))) < minimum:
        raise BuildError(
            f"Go {out.stdout.strip() or '(unknown)'} is too old: {needed_by} "
            f"needs Go {minimum[0]}.{minimum[1]} or newer"
        )
    return go


def run_go(cmd: list[str], cwd: Path, what: str) -> str:
    """Run a go command in `cwd`; on failure raise a BuildError with the tail of stderr."""
    proc = subprocess.run(cmd, cwd=cwd, env=go_env(), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise BuildError(f"{what} failed (exit {proc.returncode}):\n{tail}")
    return proc.stdout


def _write_module(go: str, target: Target, workdir: Path) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    if target.name == "kubernetes":
        info = json.loads(
            run_go(
                [go, "mod", "download", "-json", f"k8s.io/kubernetes@{KUBERNETES_VERSION}"],
                workdir,
                "downloading the Kubernetes module",
            )
        )
        text = gomod.kubernetes_wrapper(Path(info["GoMod"]).read_text(), KUBERNETES_VERSION)
    else:
        pin = PINS[target.components[0]]
        text = gomod.single_module_wrapper(target.name, pin.module, pin.version, MIN_GO)
    (workdir / "go.mod").write_text(text)
    (workdir / "go.sum").touch()


def _ldflags() -> str:
    minor = KUBERNETES_VERSION.split(".")[1]
    flags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {pkg}.gitVersion={KUBERNETES_VERSION}",
            f"-X {pkg}.gitMajor=1",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
        ]
    return " ".join(flags)


def _stream(cmd: list[str], cwd: Path, on_line: Callable[[str], None], what: str) -> None:
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=go_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.stdout is not None
    tail: list[str] = []
    for line in proc.stdout:
        tail = [*tail[-14:], line.rstrip()]
        on_line(line.rstrip())
    if proc.wait() != 0:
        raise BuildError(f"{what} failed (exit {proc.returncode}):\n" + "\n".join(tail))


def compile_packages(
    go: str, workdir: Path, packages: list[str], ldflags: str, label: str, progress: Progress
) -> Path:
    """`go build` packages of the module in `workdir` into a fresh `workdir/out`.

    Downloads first, then counts the packages to compile (`go list -deps`) so that
    `progress` gets a real total while `go build -v` names each package it compiles.
    """
    run_go([go, "mod", "download"], workdir, f"downloading modules for {label}")
    progress(f"{label}: downloading sources", 0, None)
    deps = run_go([go, "list", "-deps", *packages], workdir, f"listing packages of {label}")
    total = len(deps.split())
    done = 0

    def on_line(line: str) -> None:
        nonlocal done
        if line and not line.startswith(("go: ", "#")):
            done = min(done + 1, total)
            progress(f"{label}: compiling", done, total)

    out = workdir / "out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    cmd = [go, "build", "-v", "-trimpath", "-ldflags", ldflags, "-o", f"{out}/", *packages]
    _stream(cmd, workdir, on_line, f"go build of {label}")
    progress(f"{label}: done", total, total)
    return out


def install_binary(built: Path, dest: Path) -> None:
    """Move a built binary into the cache atomically and record its checksum sidecar."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.move(str(built), tmp)
    tmp.chmod(0o755)
    tmp.replace(dest)
    cache.record(dest)


def build_target(go: str, target: Target, progress: Progress) -> None:
    """Build one target into the cache; partial output never lands in the cache."""
    workdir = cache.home() / "build" / target.name
    label = ", ".join(c.value for c in target.components)
    progress(f"{label}: resolving modules", 0, None)
    _write_module(go, target, workdir)
    packages = [PINS[c].package for c in target.components]
    out = compile_packages(go, workdir, packages, _ldflags(), label, progress)
    for component in target.components:
        built = out / executable_name(PINS[component].package)
        install_binary(built, cache.binary_path(component))


def executable_name(package: str) -> str:
    """The file `go build -o DIR/` writes: the last path element, skipping a `/vN` suffix."""
    parts = package.split("/")
    return parts[-2] if re.fullmatch(r"v\d+", parts[-1]) and len(parts) > 1 else parts[-1]


def targets_for(components: Iterable[Component]) -> list[Target]:
    wanted = set(components)
    return [t for t in TARGETS if wanted.intersection(t.components)]


def ensure_binaries(progress: Progress, force: bool = False) -> dict[Component, Path]:
    """Build what is missing (or everything with `force`) and return verified paths."""
    missing = list(Component) if force else cache.missing_components()
    if missing:
        go = find_go()
        for target in targets_for(missing):
            _build_once(go, target, progress, force)
    return {c: cache.verify(c) for c in Component}


def _build_once(go: str, target: Target, progress: Progress, force: bool) -> None:
    """Build `target` unless another process built it while this one waited for the lock."""
    label = ", ".join(c.value for c in target.components)
    waiting = f"{label}: waiting for another build"
    with cache.build_lock(target.name, lambda: progress(waiting, 0, None)):
        if force or any(not cache.is_cached(c) for c in target.components):
            build_target(go, target, progress)
