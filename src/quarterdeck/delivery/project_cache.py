"""The Projects in force, read from the cluster at most once per tick.

One LIST serves every sync within ``max_age`` seconds, so 1,000 Applications cost
one call per tick rather than one each, and a tightened Project takes effect
within a tick. Reading fails closed: when Projects cannot be listed every sync
fails with that reason; a cluster without the Project CRD has none (the open
built-in default applies). A Project that does not decode refuses only the
Applications that name it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from lightkube import Client
from lightkube.generic_resource import create_global_resource

from quarterdeck.api.delivery import GROUP, VERSION
from quarterdeck.api.project import Project, ProjectError, decode_project
from quarterdeck.delivery.cluster import ClusterError, call_api
from quarterdeck.delivery.listed import ListedView
from quarterdeck.delivery.project import project_of

ProjectRes = create_global_resource(GROUP, VERSION, "Project", "projects")


@dataclass(frozen=True)
class ProjectView:
    """Projects by name, those that failed to decode (name -> why), or why none could be read."""

    projects: Mapping[str, Project] = field(default_factory=dict)
    broken: Mapping[str, str] = field(default_factory=dict)
    error: str = ""

    def lookup(self, app_namespace: str, wanted: str) -> tuple[Project | None, str]:
        """The Project for an Application (see ``project.project_of``), or why none."""
        if self.error:
            return None, self.error
        name = wanted or "default"
        if name in self.broken:
            return None, self.broken[name]
        return project_of(app_namespace, wanted, self.projects)


class ProjectCache(ListedView[ProjectView]):
    """Lists Projects at most once per ``max_age`` seconds of ``clock``; thread-safe, and
    no sync waits for the list while the view it has is young enough (``listed``)."""

    def __init__(self, client: Client, clock: Callable[[], float], max_age: float = 1.0) -> None:
        super().__init__(clock, max_age)
        self.client = client

    def _list(self) -> ProjectView:
        try:
            raw = call_api(lambda: [dict(p) for p in self.client.list(ProjectRes)])
        except ClusterError as err:
            if err.code == 404:  # the Project CRD is not installed
                return ProjectView()
            return ProjectView(error=f"cannot list Projects: {err}")
        except Exception as err:  # the API server is unreachable
            return ProjectView(error=f"cannot list Projects: {err}")
        projects: dict[str, Project] = {}
        broken: dict[str, str] = {}
        for doc in raw:
            name = str((doc.get("metadata") or {}).get("name", ""))
            try:
                projects[name] = decode_project(doc)
            except ProjectError as err:
                broken[name] = str(err)
        return ProjectView(projects, broken)
