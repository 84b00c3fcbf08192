"""Wrapper go.mod files that let `go build` compile Kubernetes' commands from the module proxy.

`go install k8s.io/kubernetes/cmd/...@vX` fails: the Kubernetes go.mod replaces its
staging modules (`k8s.io/api`, ...) with local directories that a module download does
not have. A small module of our own that requires `k8s.io/kubernetes` and replaces each
staging module with its published `v0.Y.Z` twin builds. The list of staging modules
changes between releases, so it is read from the release's own go.mod, never typed.
"""

from __future__ import annotations

import re

_REPLACE_BLOCK = re.compile(r"^replace\s*\((.*?)^\)", re.MULTILINE | re.DOTALL)
_LOCAL_REPLACE = re.compile(r"^\s*(\S+)\s*=>\s*\./staging/\S+\s*$")
_GODEBUG = re.compile(r"^godebug\s+.*$", re.MULTILINE)
_GO_DIRECTIVE = re.compile(r"^go\s+(\d+\.\d+(?:\.\d+)?)\s*$", re.MULTILINE)


class GoModError(ValueError):
    """The upstream go.mod does not have the shape we rely on."""


def staging_modules(upstream_gomod: str) -> list[str]:
    """Module paths the upstream go.mod replaces with a ./staging directory."""
    block = _REPLACE_BLOCK.search(upstream_gomod)
    if block is None:
        raise GoModError("no replace ( ... ) block in the Kubernetes go.mod")
    modules = [
        m.group(1) for line in block.group(1).splitlines() if (m := _LOCAL_REPLACE.match(line))
    ]
    if not modules:
        raise GoModError("the Kubernetes go.mod replaces no staging module")
    return modules


def go_directive(gomod: str) -> tuple[int, int]:
    """The (major, minor) Go release a go.mod's `go` line asks for."""
    m = _GO_DIRECTIVE.search(gomod)
    if m is None:
        raise GoModError("go.mod has no `go` directive")
    major, minor = m.group(1).split(".")[:2]
    return int(major), int(minor)


def staging_version(kubernetes_version: str) -> str:
    """`v1.36.3` -> `v0.36.3`: staging modules are published as v0.MINOR.PATCH."""
    m = re.fullmatch(r"v1\.(\d+)\.(\d+)", kubernetes_version)
    if m is None:
        raise GoModError(f"not a Kubernetes release version: {kubernetes_version!r}")
    return f"v0.{m.group(1)}.{m.group(2)}"


def kubernetes_wrapper(upstream_gomod: str, kubernetes_version: str) -> str:
    """go.mod text for a module that builds `k8s.io/kubernetes/cmd/*` at the given version."""
    staging = staging_version(kubernetes_version)
    major, minor = go_directive(upstream_gomod)
    lines = [
        "module quarterdeck.dev/devcluster/kubernetes",
        "",
        f"go {major}.{minor}.0",
        "",
    ]
    godebug = _GODEBUG.search(upstream_gomod)
    if godebug is not None:
        lines += [godebug.group(0), ""]
    lines += [f"require k8s.io/kubernetes {kubernetes_version}", "", "replace ("]
    lines += [f"\t{mod} => {mod} {staging}" for mod in staging_modules(upstream_gomod)]
    lines += [")", ""]
    return "\n".join(lines)


def single_module_wrapper(name: str, module: str, version: str, go: tuple[int, int]) -> str:
    """go.mod text for a module that only requires `module@version` (etcd, kwok)."""
    header = f"module quarterdeck.dev/devcluster/{name}\n\ngo {go[0]}.{go[1]}.0\n\n"
    return header + f"require {module} {version}\n"
