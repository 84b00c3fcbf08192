"""The ``Project`` kind: what the Applications of a team may write and read from.

Argo CD's AppProject, trimmed to what tenancy needs. A Project is cluster-scoped
(tenants cannot edit it); an Application names one in ``spec.project`` or gets the
Project named ``default``. Patterns are globs (``*``, ``?``, ``[...]``); a pattern
starting with ``!`` denies what it matches, and a deny always wins over an allow.
The decisions over these types are in ``quarterdeck.delivery.project``.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from quarterdeck.api.crd import KindSpec, PrinterColumn
from quarterdeck.api.delivery import GROUP, VERSION
from quarterdeck.api.meta import ObjectMeta

API_VERSION = f"{GROUP}/{VERSION}"
DEFAULT_PROJECT = "default"


class GroupKind(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """A kind by API group ("" is the core group) and name; both may be globs."""

    group: Annotated[str, msgspec.Meta(description="API group; '' is core, '*' any.")]
    kind: Annotated[str, msgspec.Meta(description="Kind, e.g. ConfigMap; '*' any.")]


class ProjectDestination(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """A namespace (glob) in a cluster that Applications of the Project may write to."""

    namespace: Annotated[str, msgspec.Meta(min_length=1, description="Glob; '!' denies.")]
    cluster: Annotated[
        str, msgspec.Meta(description="Glob over destination.cluster; '' is this cluster.")
    ] = ""


class ProjectSpec(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """Which Applications may use the Project, and what they may read and write."""

    description: str = ""
    application_namespaces: Annotated[
        list[str],
        msgspec.Meta(
            description="Globs: Applications of these namespaces may name this Project "
            "(none listed: no Application may)."
        ),
    ] = []
    source_repos: Annotated[
        list[str],
        msgspec.Meta(description="Globs over Source URLs the Applications may sync from."),
    ] = []
    destinations: Annotated[
        list[ProjectDestination],
        msgspec.Meta(description="Where namespaced objects may go (none listed: nowhere)."),
    ] = []
    cluster_resource_allow: Annotated[
        list[GroupKind],
        msgspec.Meta(description="Cluster-scoped kinds that may be written (default none)."),
    ] = []
    cluster_resource_deny: list[GroupKind] = []
    namespace_resource_allow: Annotated[
        list[GroupKind],
        msgspec.Meta(description="Namespaced kinds that may be written (empty: all)."),
    ] = []
    namespace_resource_deny: list[GroupKind] = []


class Project(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """What a team's Applications may write and where from (Argo CD: AppProject)."""

    api_version: str = API_VERSION
    kind: str = "Project"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: ProjectSpec = msgspec.field(default_factory=ProjectSpec)


#: Used when no Project named ``default`` exists: everything allowed, as Argo CD's
#: default project; create a ``default`` Project to lock Applications down.
OPEN_DEFAULT = Project(
    metadata=ObjectMeta(name=DEFAULT_PROJECT),
    spec=ProjectSpec(
        description="built in: no Project named default exists",
        application_namespaces=["*"],
        source_repos=["*"],
        destinations=[ProjectDestination(namespace="*", cluster="*")],
        cluster_resource_allow=[GroupKind(group="*", kind="*")],
    ),
)


class ProjectError(ValueError):
    """A Project object that does not fit the schema; the message names the field."""


def decode_project(raw: dict[str, Any]) -> Project:
    """A Project from its API object; raises ProjectError naming the bad field."""
    try:
        return msgspec.convert(raw, Project, strict=False)
    except msgspec.ValidationError as err:
        name = (raw.get("metadata") or {}).get("name", "?")
        raise ProjectError(f"Project {name}: {err}") from None


KINDS = (
    KindSpec(
        Project,
        GROUP,
        VERSION,
        "projects",
        scope="Cluster",
        short_names=("proj",),
        categories=("quarterdeck",),
        columns=(
            PrinterColumn("Applications", ".spec.applicationNamespaces"),
            PrinterColumn("Repos", ".spec.sourceRepos"),
            PrinterColumn("Destinations", ".spec.destinations[*].namespace"),
            PrinterColumn("Description", ".spec.description", priority=1),
        ),
    ),
)
