"""Source to cluster in one call: fetch, check out, render, sync.

This is one reconcile of an Application without the CRD around it; the operator
and the integration tests drive it. Every failure before the sync (git, render)
is reported as an error of the result with nothing applied.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from quarterdeck.delivery.cluster import Cluster
from quarterdeck.delivery.inventory import Entry, Owner
from quarterdeck.delivery.plan import Plan
from quarterdeck.delivery.render import Options, RenderError, render
from quarterdeck.delivery.source import Credentials, GitSource, Revision, SourceError
from quarterdeck.delivery.sync import SyncOptions, SyncResult, sync


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
) -> Delivery:
    """Fetch ``target``, render it and sync it for ``owner``; errors leave the cluster as is."""
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
    result = sync(cluster, [m.obj for m in manifests], inventory, owner, options)
    return Delivery(revision, result)
