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


_REPLACE_LINE = re.compile(r"^replace\s+(?!\()(.+)$", re.MULTILINE)
_REPLACE_SPEC = re.compile(r"^\s*(\S+)(?:\s+(\S+))?\s*=>\s*(\S+)(?:\s+(\S+))?\s*(?://.*)?$")


def _is_local(target: str) -> bool:
    return target.startswith(("./", "../", "/"))


def module_replaces(upstream_gomod: str) -> list[str]:
    """The `old => new version` replace lines of a go.mod that point at published modules.

    Replaces into local directories (`=> ./api`) are left out: a module download has no
    such directory, and the required version of that module is published on the proxy.
    Replace directives of a dependency are ignored by Go, so a wrapper module must carry
    the upstream's own ones to build what the upstream builds.
    """
    specs: list[str] = []
    for block in re.finditer(r"^replace\s*\((.*?)^\)", upstream_gomod, re.MULTILINE | re.DOTALL):
        specs += block.group(1).splitlines()
    specs += [m.group(1) for m in _REPLACE_LINE.finditer(upstream_gomod)]
    lines: list[str] = []
    for spec in specs:
        m = _REPLACE_SPEC.match(spec)
        if m is None or _is_local(m.group(3)):
            continue
        old = m.group(1) + (f" {m.group(2)}" if m.group(2) else "")
        lines.append(f"{old} => {m.group(3)}" + (f" {m.group(4)}" if m.group(4) else ""))
    return lines


def _replaced_module(line: str) -> str:
    return line.split("=>", 1)[0].split()[0]


def command_wrapper(
    name: str, module: str, version: str, upstream_gomod: str, pins: tuple[str, ...] = ()
) -> str:
    """go.mod text for a module that builds a command of `module@version`.

    It keeps the upstream's `go` and `godebug` lines and its replaces into published
    modules; `pins` are extra `old => new version` lines (a pin wins over an upstream
    replace of the same module), e.g. to pin a dependency the proxy no longer serves.
    """
    major, minor = go_directive(upstream_gomod)
    for pin in pins:
        if "=>" not in pin or _is_local(pin.split("=>", 1)[1].strip()):
            raise GoModError(f"pin {pin!r} is not `module => module version`")
    pinned = {_replaced_module(p) for p in pins}
    replaces = [r for r in module_replaces(upstream_gomod) if _replaced_module(r) not in pinned]
    lines = [f"module quarterdeck.dev/gobuild/{name}", "", f"go {major}.{minor}.0", ""]
    lines += [m.group(0) for m in _GODEBUG.finditer(upstream_gomod)]
    lines += ["", f"require {module} {version}", ""]
    if replaces or pins:
        lines += ["replace (", *(f"\t{r}" for r in [*replaces, *pins]), ")", ""]
    return "\n".join(lines)
