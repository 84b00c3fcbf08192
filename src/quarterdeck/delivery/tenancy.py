"""Tenancy: what one namespace's Sources and Applications may reach, decided before acting.

Pure. Namespaces are the isolation boundary between teams: a Source or
Application may name only objects of its own namespace (``sourceRef``,
``secretRef``, ``dependsOn``) unless the operator allows cross-namespace
references; URL schemes that read the operator's own disk (``file://``) or send
credentials in clear text (``http://``) are refused unless the operator enables
them; an Application aimed at a cluster this operator does not serve is refused,
never applied locally. See docs/tenancy.md for the threat table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from quarterdeck.api import delivery as api

_USERINFO = re.compile(r"(://)[^\s'\"]*@")
LOCAL_CLUSTERS = ("", "in-cluster", "https://kubernetes.default.svc")


@dataclass(frozen=True)
class Policy:
    """The operator's tenancy switches; the defaults are the locked-down ones."""

    cross_namespace_refs: bool = False
    allow_file_sources: bool = False
    allow_http_sources: bool = False
    cache_dir: Path | None = None  # file:// into the operator's cache is always refused
    default_service_account: str = ""  # lockdown: Applications without one run as this
    # manifests parsed in worker processes under memory and time limits (parse_worker);
    # `qd operator` turns it on, in-process callers (tests, the CLI) parse here
    isolated_parsing: bool = False
    parse_memory: int = 1 << 30  # bytes of address space of each parse worker
    parse_timeout: float = 30.0  # seconds one manifest text may take to parse
    render_timeout: float = 60.0  # seconds kustomize or helm may take for one render


#: Local (file://) repositories allowed: what tests, benchmarks and demos run with.
LOCAL_REPOSITORIES = Policy(allow_file_sources=True)


def mask(text: str) -> str:
    """``text`` with the userinfo of every URL replaced, whatever the password holds."""
    return _USERINFO.sub(r"\1***@", text)


def cross_namespace(kind: str, own: str, ref_namespace: str, policy: Policy) -> str:
    """Why a reference from namespace ``own`` to ``ref_namespace`` is refused, or ""."""
    if not ref_namespace or ref_namespace == own or policy.cross_namespace_refs:
        return ""
    return (
        f"{kind} to namespace {ref_namespace!r} refused: references across namespaces "
        "are off (the operator's --allow-cross-namespace-refs enables them)"
    )


def url_problem(url: str, has_credentials: bool, policy: Policy) -> str:
    """Why fetching ``url`` (with or without credentials) is refused, or ""."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "file":
        local = Path(parts.path)
        if policy.cache_dir is not None and _within(local, policy.cache_dir):
            return "file:// into the operator's cache is refused (it holds other teams' mirrors)"
        if not policy.allow_file_sources:
            return "file:// sources are off (the operator's --allow-file-sources enables them)"
        return ""
    if scheme == "http":
        if has_credentials or parts.username or parts.password:
            return "credentials over plain http:// are refused; use https://"
        if not policy.allow_http_sources:
            return "http:// sources are off (the operator's --allow-http-sources enables them)"
        return ""
    if scheme in ("https", "ssh"):
        return ""
    return f"URL scheme {scheme + '://' if scheme else '(none)'} is not supported"


def _within(path: Path, root: Path) -> bool:
    try:
        return path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):
        return True  # cannot tell: treat as inside, refuse


def destination_problem(cluster: str, served: bool = False) -> str:
    """Why an Application's ``destination.cluster`` cannot be served here, or "".
    ``served``: the fleet registry has this cluster (see ``fleet.destinations``)."""
    if cluster in LOCAL_CLUSTERS or served:
        return ""
    return (
        f"destination cluster {mask(cluster)!r} is not served by this operator "
        "(it applies only to the cluster it runs in); nothing was applied"
    )


def source_refusal(src: api.Source, policy: Policy) -> str:
    """Why a Source must not be fetched (checked before its Secret is read), or ""."""
    ref = src.spec.secret_ref
    own = src.metadata.namespace
    problem = cross_namespace("secretRef", own, ref.namespace if ref else "", policy)
    return problem or url_problem(src.spec.url, ref is not None, policy)


def application_refusal(app: api.Application, policy: Policy, served: bool = False) -> str:
    """Why an Application must not be synced at all, or ""."""
    own = app.metadata.namespace
    spec = app.spec
    for kind, namespace in [
        ("sourceRef", spec.source_ref.namespace),
        *[("dependsOn", d.namespace) for d in spec.depends_on],
    ]:
        problem = cross_namespace(kind, own, namespace, policy)
        if problem:
            return problem
    return destination_problem(spec.destination.cluster, served)


def service_account_user(app: api.Application, policy: Policy) -> str:
    """The user an Application's changes are made as: its ServiceAccount (or the
    operator's default one) in its own namespace; "" means the operator itself."""
    name = app.spec.service_account_name or policy.default_service_account
    return f"system:serviceaccount:{app.metadata.namespace}:{name}" if name else ""
