"""Source to cluster in one call: fetch, check out, render, sync.

This is one reconcile of an Application without the CRD around it; the operator
and the integration tests drive it. Every failure before the sync (git, render)
is reported as an error of the result with nothing applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from quarterdeck.api.policy import Guardrail
from quarterdeck.delivery.cluster import Cluster
from quarterdeck.delivery.inventory import Entry, Owner
from quarterdeck.delivery.manifests import Obj
from quarterdeck.delivery.plan import Plan
from quarterdeck.delivery.render import Options, RenderError, render
from quarterdeck.delivery.source import Credentials, GitSource, Revision, SourceError
from quarterdeck.delivery.sync import SyncOptions, SyncResult, sync
from quarterdeck.policy.presync import Gate, presync


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

    @property
    def ok(self) -> bool:
        return self.result.ok


def _failed(revision: Revision | None, inventory: list[Entry], message: str) -> Delivery:
    return Delivery(revision, SyncResult(plan=Plan(), inventory=inventory, errors=[message]))


def deliver(
    cluster: Cluster,
    source: GitSource,
    target: Target,
    owner: Owner,
    inventory: list[Entry],
    options: SyncOptions | None = None,
    guardrails: Sequence[Guardrail] = (),
) -> Delivery:
    """Fetch ``target``, render it and sync it for ``owner``; errors leave the cluster as is.

    ``guardrails`` are evaluated on the rendered set before anything is applied: a
    Deny outcome fails the delivery naming object, policy and message; Warn and Audit
    outcomes are returned in ``guardrail_warnings``.
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
        tree = source.checkout(target.url, revision.sha, target.ignore)
    except SourceError as err:
        return _failed(None, inventory, str(err))
    try:
        manifests = render(tree, target.path, target.render)
    except RenderError as err:
        return _failed(revision, inventory, f"revision {revision.sha[:12]}: {err}")
    rendered = [m.obj for m in manifests]
    gate = presync(guardrails, rendered) if guardrails else Gate()
    if gate.blocked:
        return _failed(revision, inventory, f"revision {revision.sha[:12]}: {gate.summary()}")
    result = sync(cluster, rendered, inventory, owner, options)
    notes = [f"{v.object}: {v.policy}: {v.message}" for v in (*gate.warnings, *gate.audits)]
    return Delivery(revision, result, notes, rendered)
