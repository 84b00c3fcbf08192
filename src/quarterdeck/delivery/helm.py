"""Helm charts behind the Renderer seam: real Helm (``helm template``), offline.

A chart comes from the repository only: the Application's path is a chart directory
(it has a ``Chart.yaml``), or a local chart repository (an ``index.yaml`` beside the
packaged charts) with ``helm.chart`` naming the chart and ``helm.version`` an exact
version or a semver range. Values come inline, from files inside the repository
(a values file reaching outside it is refused: CVE-2022-24348, where Argo CD read
files of other repositories through ``../``), and from ConfigMaps or Secrets of the
Application's namespace (``valuesFrom``, read by the shell before the render).

Helm runs with no network (proxies to a closed port), no kubeconfig, its config, cache
and data directories in a fresh temporary directory, under the render's time and
memory limits; its own message, which names the template file and line, is the error.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from quarterdeck import kyaml
from quarterdeck.delivery.manifests import Manifest, parse_documents
from quarterdeck.delivery.refs import RefError, parse_range, tag_version
from quarterdeck.devcluster.gocommand import GoCommand, cached_command

HELM_VERSION = "v3.22.0"
HELM = GoCommand(
    "helm",
    "helm.sh/helm/v3",
    HELM_VERSION,
    "helm.sh/helm/v3/cmd/helm",
    ldflags=f"-s -w -X helm.sh/helm/v3/internal/version.version={HELM_VERSION}",
)
#: kustomization fields a post-render may set (inline only: nothing is loaded from files)
POST_RENDER_FIELDS = frozenset(
    {
        "patches",
        "images",
        "labels",
        "commonLabels",
        "commonAnnotations",
        "namePrefix",
        "nameSuffix",
        "replicas",
    }
)


class HelmError(ValueError):
    """A chart that cannot be rendered; the message says why (Helm's words, the file)."""


@dataclass(frozen=True)
class ValuesRef:
    """Values from a ConfigMap or Secret key of the Application's namespace (Flux's
    ``valuesFrom``); later entries win over earlier ones, inline values over all."""

    kind: Literal["ConfigMap", "Secret"]
    name: str
    key: str = "values.yaml"
    optional: bool = False


@dataclass(frozen=True)
class HelmSettings:
    """The ``render.helm`` options of an Application."""

    release_name: str = ""
    namespace: str = ""
    chart: str = ""  # a chart of the local chart repository at the path; "": path is a chart
    version: str = ""
    values: Mapping[str, Any] = field(default_factory=dict)
    values_files: tuple[str, ...] = ()
    values_from: tuple[ValuesRef, ...] = ()
    app_namespace: str = ""  # where valuesFrom objects are read
    resolved: tuple[Mapping[str, Any], ...] = ()  # valuesFrom, read by the shell
    post_render: Mapping[str, Any] = field(default_factory=dict)  # kustomization fields
    skip_crds: bool = False


def helm_binary() -> Path:
    """The cached Helm, or HelmError saying how to build it."""
    path = cached_command(HELM)
    if path is None:
        raise HelmError(f"helm {HELM_VERSION} is not built: run `qd dev build` (or make install)")
    return path


def is_chart(target: Path) -> bool:
    return (target / "Chart.yaml").is_file()


def values_file(root: Path, base: Path, path: str) -> Path:
    """``path`` (relative to the chart directory ``base``) resolved, if it stays inside the
    repository at ``root`` (symlinks followed); HelmError otherwise."""
    if "://" in path:
        raise HelmError(f"values file {path!r}: URLs are not allowed; commit the file")
    if Path(path).is_absolute():
        raise HelmError(f"values file {path!r} is absolute; give a path inside the repository")
    candidate = base / path
    try:
        resolved = candidate.resolve()  # symlinks followed; leaving is refused before existing
    except (OSError, RuntimeError):
        raise HelmError(f"values file {path!r} is a symlink loop") from None
    if not resolved.is_relative_to(root.resolve()):
        raise HelmError(
            f"values file {path!r} leaves the repository (refused, see CVE-2022-24348)"
        )
    if not resolved.exists():
        raise HelmError(f"values file {path!r} does not exist in the repository")
    if not resolved.is_file():
        raise HelmError(f"values file {path!r} is not a file")
    return resolved


def chart_from_index(root: Path, target: Path, name: str, version: str) -> Path:
    """The packaged chart ``name`` at ``version`` (exact or a range) from the local chart
    repository at ``target``; the highest version that fits."""
    index = target / "index.yaml"
    rel = index.relative_to(root).as_posix()
    if not index.is_file():
        raise HelmError(f"{rel}: no chart repository index at the path (helm.chart is set)")
    try:
        data = kyaml.load(kyaml.read_bytes(index, rel, kyaml.LIMITS.max_bytes), rel) or {}
    except kyaml.YAMLError as err:
        raise HelmError(str(err)) from None
    entries = (data.get("entries") or {}).get(name) if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise HelmError(f"{rel}: no chart named {name!r}")
    try:
        wanted = parse_range(version) if version else None
    except RefError as err:
        raise HelmError(f"helm.version: {err}") from None
    best: tuple[Any, dict[str, Any]] | None = None
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        v = tag_version(str(entry.get("version", "")))
        if v is None or (wanted is not None and not wanted.match(v)):
            continue
        if best is None or v > best[0]:
            best = (v, entry)
    if best is None:
        raise HelmError(f"{rel}: no version of {name!r} matches {version!r}")
    urls = best[1].get("urls") or []
    url = str(urls[0]) if urls else ""
    if not url or "://" in url:
        raise HelmError(f"{rel}: {name} {best[0]}: only charts stored beside the index are used")
    chart = target / url
    if not chart.resolve().is_relative_to(root.resolve()) or not chart.is_file():
        raise HelmError(f"{rel}: {name} {best[0]}: {url!r} is not a file in the repository")
    return chart


def _values_documents(settings: HelmSettings) -> list[Mapping[str, Any]]:
    return [*settings.resolved, *([settings.values] if settings.values else [])]


def template(
    root: Path,
    target: Path,
    settings: HelmSettings,
    namespace: str,
    timeout: float,
    limited: list[str],
    max_output: int,
) -> list[Manifest]:
    """``helm template`` of the chart at ``target`` (or from its index) with the values."""
    origin = target.relative_to(root).as_posix() or "."
    chart = (
        chart_from_index(root, target, settings.chart, settings.version)
        if settings.chart
        else target
    )
    if not settings.chart and not is_chart(target):
        raise HelmError(f"{origin}: no Chart.yaml (give helm.chart to use a chart repository)")
    files = [values_file(root, target, f) for f in settings.values_files]
    release = settings.release_name or (chart.name if chart.is_dir() else settings.chart)
    helm = helm_binary()
    with tempfile.TemporaryDirectory(prefix="qd-helm-") as tmp:
        home = Path(tmp)
        args = [*limited, str(helm), "template", release, str(chart), "--namespace", namespace]
        args += ["--skip-tests", "--skip-crds" if settings.skip_crds else "--include-crds"]
        for i, doc in enumerate(_values_documents(settings)):
            extra = home / f"values-{i}.yaml"
            extra.write_text(kyaml.dump(dict(doc)))
            files.append(extra)
        for f in files:
            args += ["--values", str(f)]
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": tmp,
            "HELM_CACHE_HOME": f"{tmp}/cache",
            "HELM_CONFIG_HOME": f"{tmp}/config",
            "HELM_DATA_HOME": f"{tmp}/data",
            "HTTPS_PROXY": "http://127.0.0.1:9",
            "HTTP_PROXY": "http://127.0.0.1:9",
            "NO_PROXY": "",
            "KUBECONFIG": f"{tmp}/no-kubeconfig",
        }
        try:
            done = subprocess.run(
                args, env=env, cwd=tmp, capture_output=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            raise HelmError(f"{origin}: helm template took longer than {timeout:g}s") from None
    if done.returncode != 0:
        raise HelmError(f"{origin}: helm template failed: {helm_reason(done.stderr, str(root))}")
    if len(done.stdout) > max_output:
        raise HelmError(f"{origin}: helm output is over {max_output} bytes")
    return parse_documents(done.stdout.decode(), f"{origin} (helm template output)")


def helm_reason(stderr: bytes, root: str) -> str:
    """Helm's explanation on one line, with the checkout's path taken out of it."""
    lines = [
        ln.strip().removeprefix("Error: ") for ln in stderr.decode(errors="replace").splitlines()
    ]
    text = "; ".join(ln for ln in lines if ln and not ln.startswith("Use --debug"))
    return text.replace(f"{root}/", "").replace(root, ".")[:2000]


def post_render_kustomization(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The kustomization a post-render runs over Helm's output; HelmError for a field
    that is not allowed (anything that would load files or fetch)."""
    unknown = sorted(set(fields) - POST_RENDER_FIELDS)
    if unknown:
        allowed = ", ".join(sorted(POST_RENDER_FIELDS))
        raise HelmError(f"helm.postRender.kustomize: {', '.join(unknown)} not allowed ({allowed})")
    for patch in fields.get("patches") or []:
        if not isinstance(patch, dict) or "path" in patch or not patch.get("patch"):
            raise HelmError("helm.postRender.kustomize.patches: give each patch inline (patch:)")
    return {**fields, "resources": ["helm-output.yaml"]}


def settings_of(options: Any, app_namespace: str) -> HelmSettings | None:
    """HelmSettings from an Application's ``render.helm`` (api.HelmOptions), or None."""
    if options is None:
        return None
    post = options.post_render.kustomize if options.post_render is not None else {}
    return HelmSettings(
        release_name=options.release_name,
        namespace=options.namespace,
        chart=options.chart,
        version=options.version,
        values=dict(options.values),
        values_files=tuple(options.values_files),
        values_from=tuple(
            ValuesRef(v.kind, v.name, v.values_key, v.optional) for v in options.values_from
        ),
        app_namespace=app_namespace,
        post_render=dict(post),
        skip_crds=options.skip_crds,
    )
