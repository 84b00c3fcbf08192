"""Projects (delivery.project): who may use one, which sources, which objects where."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from quarterdeck.api.crd import crd
from quarterdeck.api.meta import ObjectMeta
from quarterdeck.api.project import (
    KINDS,
    OPEN_DEFAULT,
    GroupKind,
    Project,
    ProjectDestination,
    ProjectError,
    ProjectSpec,
    decode_project,
)
from quarterdeck.delivery.project import (
    matches,
    object_refusal,
    plan_refusal,
    project_of,
    source_refusal,
)
from quarterdeck.delivery.project_cache import ProjectView
from quarterdeck.delivery.stages import CLUSTER_SCOPED

CRD_DIR = Path(__file__).parents[2] / "deploy" / "crds"
SCOPED = frozenset({*CLUSTER_SCOPED, ("rbac.authorization.k8s.io", "ClusterRoleBinding")})

TEAM_A = Project(
    metadata=ObjectMeta(name="team-a"),
    spec=ProjectSpec(
        application_namespaces=["team-a"],
        source_repos=[
            "https://git.example.com/team-a/*",
            "!https://git.example.com/team-a/secret*",
        ],
        destinations=[
            ProjectDestination(namespace="team-a"),
            ProjectDestination(namespace="team-a-*"),
        ],
        cluster_resource_allow=[GroupKind(group="", kind="Namespace")],
        namespace_resource_deny=[GroupKind(group="", kind="ResourceQuota")],
    ),
)


def obj(kind: str, name: str, namespace: str = "", api_version: str = "v1") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name} | ({"namespace": namespace} if namespace else {})
    return {"apiVersion": api_version, "kind": kind, "metadata": meta}


def test_committed_project_crd_matches_the_types() -> None:
    manifest = crd(KINDS[0])
    committed = yaml.safe_load((CRD_DIR / f"{manifest['metadata']['name']}.yaml").read_text())
    hint = "regenerate: python -m quarterdeck.api.crd quarterdeck.api.project deploy/crds"
    assert committed == manifest, hint
    assert manifest["spec"]["scope"] == "Cluster"
    columns = manifest["spec"]["versions"][0]["additionalPrinterColumns"]
    assert [c["name"] for c in columns][:3] == ["Applications", "Repos", "Destinations"]


def test_globs_allow_and_a_negation_always_wins() -> None:
    assert matches(["team-*"], "team-a")
    assert not matches(["team-*", "!team-b"], "team-b")
    assert not matches(["!team-b", "team-*"], "team-b")
    assert not matches([], "anything")


def test_an_application_gets_default_or_the_open_built_in_one() -> None:
    assert project_of("team-a", "", {}) == (OPEN_DEFAULT, "")
    strict = Project(metadata=ObjectMeta(name="default"), spec=ProjectSpec())
    project, why = project_of("team-a", "", {"default": strict})
    assert project is None and "not in spec.applicationNamespaces" in why


def test_a_team_cannot_borrow_another_teams_project() -> None:
    assert project_of("team-a", "team-a", {"team-a": TEAM_A}) == (TEAM_A, "")
    project, why = project_of("team-b", "team-a", {"team-a": TEAM_A})
    assert project is None
    assert why == (
        "Project 'team-a' refuses Applications of namespace 'team-b': "
        "not in spec.applicationNamespaces"
    )
    assert project_of("team-a", "nope", {})[1] == "Project 'nope' does not exist"


def test_source_urls_outside_the_project_are_refused_with_credentials_masked() -> None:
    assert source_refusal(TEAM_A, "https://git.example.com/team-a/web.git") == ""
    refused = source_refusal(TEAM_A, "https://u:p@ss@git.example.com/team-b/web.git")
    assert "spec.sourceRepos" in refused and "p@ss" not in refused
    assert source_refusal(TEAM_A, "https://git.example.com/team-a/secrets.git")


def test_objects_outside_the_destinations_or_kinds_are_refused_naming_the_rule() -> None:
    ok = [
        obj("ConfigMap", "a", "team-a"),
        obj("Secret", "s", "team-a-dev"),
        obj("Namespace", "team-a-dev"),
    ]
    assert plan_refusal(TEAM_A, ok, "", SCOPED) is None
    cases = {
        "spec.destinations": obj("ConfigMap", "x", "team-b"),
        "spec.clusterResourceAllow": obj(
            "ClusterRoleBinding", "admin", api_version="rbac.authorization.k8s.io/v1"
        ),
        "spec.namespaceResourceDeny": obj("ResourceQuota", "q", "team-a"),
    }
    for rule, bad in cases.items():
        refusal = plan_refusal(TEAM_A, [*ok, bad], "", SCOPED)
        assert refusal is not None and refusal.rule == rule, (rule, refusal)
    refusal = object_refusal(TEAM_A, obj("Namespace", "team-b"), "", SCOPED)
    assert str(refusal) == (
        "Project 'team-a' refuses Namespace team-b: spec.destinations does not list "
        "namespace 'team-b'"
    )


def test_a_namespace_allow_list_limits_namespaced_kinds() -> None:
    only_cm = Project(
        metadata=ObjectMeta(name="p"),
        spec=ProjectSpec(
            destinations=[ProjectDestination(namespace="*")],
            namespace_resource_allow=[GroupKind(group="", kind="ConfigMap")],
        ),
    )
    assert object_refusal(only_cm, obj("ConfigMap", "a", "x"), "", SCOPED) is None
    refusal = object_refusal(only_cm, obj("Secret", "a", "x"), "", SCOPED)
    assert refusal is not None and refusal.rule == "spec.namespaceResourceAllow"


def test_destinations_name_the_cluster() -> None:
    fleet = Project(
        metadata=ObjectMeta(name="p"),
        spec=ProjectSpec(destinations=[ProjectDestination(namespace="*", cluster="prod-*")]),
    )
    assert object_refusal(fleet, obj("ConfigMap", "a", "x"), "prod-eu", SCOPED) is None
    refusal = object_refusal(fleet, obj("ConfigMap", "a", "x"), "", SCOPED)
    assert refusal is not None and refusal.rule == "spec.destinations"


def test_a_broken_project_refuses_only_its_own_applications() -> None:
    with pytest.raises(ProjectError, match="Project bad"):
        decode_project({"metadata": {"name": "bad"}, "spec": {"destinations": "team-a"}})
    view = ProjectView({"team-a": TEAM_A}, {"bad": "Project bad: expected array"})
    assert view.lookup("team-a", "bad") == (None, "Project bad: expected array")
    assert view.lookup("team-a", "team-a") == (TEAM_A, "")
    assert view.lookup("x", "")[0] is OPEN_DEFAULT
    assert ProjectView(error="cannot list Projects: 503").lookup("x", "")[0] is None
