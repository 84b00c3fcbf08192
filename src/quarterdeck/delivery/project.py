"""Projects: may this Application use this Project, this Source, write these objects?

Pure. Each answer is "" (allowed) or one line naming the Project, the object and
the rule that refuses it. The whole rendered set is checked before anything is
applied, so a refused plan changes nothing (Argo CD refuses an AppProject
violation the same way). Patterns are globs; ``!pattern`` denies and a deny wins.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from quarterdeck.api.project import DEFAULT_PROJECT, OPEN_DEFAULT, GroupKind, Project
from quarterdeck.delivery.manifests import Obj
from quarterdeck.delivery.tenancy import mask

NAMESPACE_KIND = ("", "Namespace")


@dataclass(frozen=True)
class Refusal:
    """Why a Project refuses an Application's plan: the object and the rule."""

    project: str
    object: str
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"Project {self.project!r} refuses {self.object}: {self.rule} {self.detail}"


def matches(patterns: Sequence[str], value: str) -> bool:
    """Whether ``value`` is allowed by ``patterns`` (globs; ``!glob`` denies, and wins)."""
    allowed = False
    for pattern in patterns:
        if pattern.startswith("!"):
            if fnmatchcase(value, pattern[1:]):
                return False
        elif fnmatchcase(value, pattern):
            allowed = True
    return allowed


def _listed(entries: Iterable[GroupKind], group: str, kind: str) -> bool:
    return any(fnmatchcase(group, e.group) and fnmatchcase(kind, e.kind) for e in entries)


def project_of(
    app_namespace: str, wanted: str, projects: Mapping[str, Project]
) -> tuple[Project | None, str]:
    """The Project an Application of ``app_namespace`` naming ``wanted`` gets, or why none.

    An empty name means ``default``; without a Project named default the open built-in
    one applies (as Argo CD's default project). A named Project that does not exist, or
    one that does not list the Application's namespace, is refused: a team cannot
    borrow another team's Project by naming it.
    """
    name = wanted or DEFAULT_PROJECT
    project = projects.get(name)
    if project is None:
        if name == DEFAULT_PROJECT:
            return OPEN_DEFAULT, ""
        return None, f"Project {name!r} does not exist"
    if not matches(project.spec.application_namespaces, app_namespace):
        return None, (
            f"Project {name!r} refuses Applications of namespace {app_namespace!r}: "
            "not in spec.applicationNamespaces"
        )
    return project, ""


def source_refusal(project: Project, url: str) -> str:
    """Why the Project refuses syncing from ``url``, or ""."""
    if matches(project.spec.source_repos, url):
        return ""
    name = project.metadata.name
    return str(Refusal(name, f"source {mask(url)}", "spec.sourceRepos", "does not list it"))


def destination_refusal(project: Project, cluster: str, namespace: str) -> str:
    """Why ``spec.destinations`` refuses writing into ``namespace`` of ``cluster``, or ""."""
    allow = [d.namespace for d in project.spec.destinations if fnmatchcase(cluster, d.cluster)]
    if matches(allow, namespace):
        return ""
    where = f"namespace {namespace!r}" + (f" of cluster {mask(cluster)!r}" if cluster else "")
    return f"does not list {where}"


def object_refusal(
    project: Project, obj: Obj, cluster: str, cluster_scoped: Collection[tuple[str, str]]
) -> Refusal | None:
    """Why the Project refuses writing ``obj`` (namespace already settled), or None."""
    api_version = str(obj.get("apiVersion", ""))
    group = api_version.rpartition("/")[0]
    kind = str(obj.get("kind", ""))
    meta = obj.get("metadata") or {}
    name, namespace = str(meta.get("name", "")), str(meta.get("namespace") or "")
    spec = project.spec
    described = f"{kind} {namespace + '/' if namespace else ''}{name}"

    def refused(rule: str, detail: str) -> Refusal:
        return Refusal(project.metadata.name, described, rule, detail)

    gk = f"group {group!r} kind {kind!r}"
    if (group, kind) in cluster_scoped:
        if _listed(spec.cluster_resource_deny, group, kind):
            return refused("spec.clusterResourceDeny", f"lists {gk}")
        if not _listed(spec.cluster_resource_allow, group, kind):
            return refused("spec.clusterResourceAllow", f"does not list {gk}")
        if (group, kind) == NAMESPACE_KIND:  # creating a Namespace is writing into it
            problem = destination_refusal(project, cluster, name)
            return refused("spec.destinations", problem) if problem else None
        return None
    if _listed(spec.namespace_resource_deny, group, kind):
        return refused("spec.namespaceResourceDeny", f"lists {gk}")
    allow = spec.namespace_resource_allow
    if allow and not _listed(allow, group, kind):
        return refused("spec.namespaceResourceAllow", f"does not list {gk}")
    problem = destination_refusal(project, cluster, namespace)
    return refused("spec.destinations", problem) if problem else None


def plan_refusal(
    project: Project,
    objects: Iterable[Obj],
    cluster: str,
    cluster_scoped: Collection[tuple[str, str]],
) -> Refusal | None:
    """The first object of the rendered set the Project refuses, or None: all may go."""
    for obj in objects:
        found = object_refusal(project, obj, cluster, cluster_scoped)
        if found is not None:
            return found
    return None
