"""Source to cluster in one call: fetch, check out, render, sync.

This is one reconcile of an Application without the CRD around it; the operator
and the integration tests drive it. Every failure before the sync (git, render)
is reported as an error of the result with nothing applied.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from quarterdeck.api.policy import Guardrail
from quarterdeck.api.project import Project
from quarterdeck.delivery.cluster import Cluster, ClusterError, UnknownKind
from quarterdeck.delivery.helm_values import with_values_from
from quarterdeck.delivery.inventory import Entry, Owner
from quarterdeck.delivery.manifests import Obj
from quarterdeck.delivery.plan import Plan
from quarterdeck.delivery.project import Refusal, plan_refusal
from quarterdeck.delivery.render import Options, RenderError, check_tree, render
from quarterdeck.delivery.source import Credentials, GitSource, Revision, SourceError
from quarterdeck.delivery.sync import SyncOptions, SyncResult, prepare, sync
from quarterdeck.policy.live import recent_server_minor
from quarterdeck.policy.presync import Gate, presync
from quarterdeck.policy.pss.exemptions import DEFAULT, PodSecurityConfig


@dataclass(frozen=True)
class Target:
    """What to deliver: a repository, a ref and a path in it."""

    url: str
    path: str = "."
    branch: str = ""
    tag: str = ""
    semver: str = ""
    commit: str = ""
    ignore: str = ""
    credentials: Credentials | None = None
    render: Options = field(default_factory=Options)


@dataclass
class Delivery:
    """The outcome of one delivery: the revision (if resolved) and the sync result."""

    revision: Revision | None
    result: SyncResult
    # Warn/Audit guardrail outcomes ("Kind/ns/name: policy: message"), for status/events.
    guardrail_warnings: list[str] = field(default_factory=list)
    desired: list[Obj] = field(default_factory=list)
    gate: Gate = field(default_factory=Gate)  # the pre-sync decision (empty without guardrails)
    refusal: Refusal | None = None  # the Project refused the rendered set: nothing applied

    @property
    def ok(self) -> bool:
        return self.result.ok


def _failed(
    revision: Revision | None,
    inventory: list[Entry],
    message: str,
    gate: Gate | None = None,
    refusal: Refusal | None = None,
) -> Delivery:
    result = SyncResult(plan=Plan(), inventory=inventory, errors=[message])
    return Delivery(revision, result, gate=gate or Gate(), refusal=refusal)


@dataclass(frozen=True)
class Bounds:
    """The tenancy bounds of one delivery: its Project and destination cluster."""

    project: Project
    cluster: str = ""


def _as_applied(cluster: Cluster, rendered: list[Obj], namespace: str) -> list[Obj]:
    """Rendered objects with the namespace they will get, so namespaceSelectors and
    reports see it; an unknown kind or a failed lookup is left for the sync to report."""
    try:
        return prepare(cluster, rendered, namespace)[0]
    except (UnknownKind, ClusterError):
        return rendered


def bounds_refusal(
    cluster: Cluster, objects: list[Obj], namespace: str, bounds: Bounds
) -> tuple[str, Refusal | None]:
    """Why ``bounds`` (its Project) refuses writing ``objects``: ("", None) when all may
    go. Fails closed: an object whose scope discovery cannot tell is a problem, since
    it cannot be checked. Syncs and self-heal's re-applies both ask this first."""
    try:
        settled, scoped = prepare(cluster, objects, namespace)
    except (UnknownKind, ClusterError) as err:
        return str(err), None
    refusal = plan_refusal(bounds.project, settled, bounds.cluster, scoped)
    return (str(refusal), refusal) if refusal is not None else ("", None)


def deliver(
    cluster: Cluster,
    source: GitSource,
    target: Target,
    owner: Owner,
    inventory: list[Entry],
    options: SyncOptions | None = None,
    guardrails: Sequence[Guardrail] = (),
    namespaces: Mapping[str, Mapping[str, str]] | None = None,
    bounds: Bounds | None = None,
    pod_security: PodSecurityConfig = DEFAULT,
    username: str | None = None,
) -> Delivery:
    """Fetch ``target``, render it and sync it for ``owner``; errors leave the cluster as is.

    ``guardrails`` are evaluated on the rendered set before anything is applied: a
    Deny outcome fails the delivery naming object, policy and message; Warn and Audit
    outcomes are returned in ``guardrail_warnings`` (and ``gate``). ``namespaces``
    (name -> live labels) is what a Guardrail's namespaceSelector looks at.
    ``bounds`` (the Application's Project) is checked on the whole rendered set, with
    namespaces as they will be applied, before guardrails and before anything changes.
    ``pod_security`` (the API server's PodSecurity defaults and exemptions) and
    ``username`` (who applies) let the gate predict Pod Security as that server does.
    """
    try:
        revision = source.fetch(
            target.url,
            branch=target.branch,
            tag=target.tag,
            semver=target.semver,
            commit=target.commit,
            credentials=target.credentials,
        )
    except SourceError as err:
        return _failed(None, inventory, str(err))
    limits = target.render.limits
    try:
        tree = source.checkout(
            target.url, revision.sha, target.ignore, limits.max_file_bytes, limits.max_total_bytes
        )
    except SourceError as err:
        return _failed(revision, inventory, str(err))
    walked = (tree, target.path, limits)
    if walked in source.refused:
        return _failed(revision, inventory, source.refused[walked])
    try:
        if walked not in source.checked:  # checkouts are immutable: walk each path once
            check_tree(tree, limits, target.path)
            source.checked.add(walked)
    except RenderError as err:
        source.refused[walked] = f"revision {revision.sha[:12]}: {err}"
        return _failed(revision, inventory, source.refused[walked])
    try:
        rendering = with_values_from(cluster, target.render)  # delivery: helm valuesFrom
        manifests = render(tree, target.path, rendering, tree_checked=True)
    except RenderError as err:
        return _failed(revision, inventory, f"revision {revision.sha[:12]}: {err}")
    rendered = [m.obj for m in manifests]
    namespace = (options or SyncOptions()).namespace
    if bounds is not None:
        problem, refusal = bounds_refusal(cluster, rendered, namespace, bounds)
        if refusal is not None:
            message = f"revision {revision.sha[:12]}: {refusal}; nothing was applied"
            return _failed(revision, inventory, message, refusal=refusal)
        if problem:
            return _failed(revision, inventory, f"revision {revision.sha[:12]}: {problem}")
    gate = Gate()
    if guardrails or namespaces:  # namespaces: their Pod Security labels are predicted too
        checked = _as_applied(cluster, rendered, namespace)
        gate = presync(guardrails, checked, namespaces=namespaces, clock=time.perf_counter,
                       server_minor=recent_server_minor(cluster.client),  # guardrails hook
                       pod_security=pod_security, username=username)
    if gate.blocked:
        message = f"revision {revision.sha[:12]}: {gate.summary()}"
        return _failed(revision, inventory, message, gate)
    result = sync(cluster, rendered, inventory, owner, options)
    seen = dict.fromkeys([*gate.warnings, *gate.audits])  # Warn + Audit on one: once
    notes = [f"{v.object}: {v.policy}: {v.message}" for v in seen]
    return Delivery(revision, result, notes, rendered, gate)
