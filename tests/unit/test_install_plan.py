"""The install's pure parts: overlay inputs, apply order, and what uninstall may remove."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from quarterdeck import __version__
from quarterdeck.install.base import (
    IMAGE_NAME,
    InstallInputError,
    base_dir,
    check_namespace,
    image_override,
    overlay,
)
from quarterdeck.install.plan import (
    Application,
    UninstallRefused,
    application_of,
    apply_order,
    ref,
    removal,
)

DEPLOY = Path(__file__).parents[2] / "deploy"


def _obj(kind: str, name: str, namespace: str = "") -> dict[str, Any]:
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"apiVersion": "v1", "kind": kind, "metadata": meta}


INSTALLED = [
    _obj("CustomResourceDefinition", "applications.delivery.quarterdeck.dev"),
    _obj("ClusterRole", "quarterdeck-operator"),
    _obj("Deployment", "quarterdeck-operator", "qd"),
    _obj("Namespace", "qd"),
    _obj("ServiceAccount", "quarterdeck-operator", "qd"),
    _obj("Service", "quarterdeck-metrics", "qd"),
]


def test_the_base_lists_every_generated_crd_and_tags_this_version() -> None:
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    listed = {r for r in kustomization["resources"] if r.startswith("crds/")}
    generated = {f"crds/{p.name}" for p in (DEPLOY / "crds").glob("*.yaml")}
    assert listed == generated, "list every deploy/crds file in deploy/kustomization.yaml"
    (image,) = kustomization["images"]
    assert image == {"name": IMAGE_NAME, "newTag": __version__}
    assert base_dir().resolve() == DEPLOY.resolve()


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("quarterdeck", {"newName": "quarterdeck", "newTag": "latest"}),
        (
            "registry.test:5000/team/qd:v1.2",
            {"newName": "registry.test:5000/team/qd", "newTag": "v1.2"},
        ),
        ("qd@sha256:" + "a" * 64, {"newName": "qd", "digest": "sha256:" + "a" * 64}),
    ],
)
def test_image_references_become_kustomize_image_overrides(
    image: str, expected: dict[str, str]
) -> None:
    assert image_override(image) == {"name": IMAGE_NAME, **expected}


@pytest.mark.parametrize("image", ["", "Quarterdeck:1", "qd:", "qd:bad tag", "qd@sha256:xyz"])
def test_bad_image_references_are_refused_in_one_line(image: str) -> None:
    with pytest.raises(InstallInputError, match="not a container image reference"):
        image_override(image)


@pytest.mark.parametrize("namespace", ["", "Upper", "-lead", "a" * 64, "has_underscore"])
def test_bad_namespaces_are_refused(namespace: str) -> None:
    with pytest.raises(InstallInputError, match="must be a DNS label"):
        check_namespace(namespace)


def test_the_overlay_moves_namespace_and_binding_subjects() -> None:
    kustomization, transformer = overlay("platform", "qd:2")
    assert kustomization["namespace"] == "platform"
    assert kustomization["resources"] == ["base"]
    assert transformer["metadata"]["namespace"] == "platform"
    assert transformer["setRoleBindingSubjects"] == "allServiceAccounts"


def test_apply_order_puts_namespace_crds_and_rbac_before_the_deployment() -> None:
    kinds = [o["kind"] for o in apply_order(INSTALLED)]
    assert kinds == [
        "Namespace",
        "CustomResourceDefinition",
        "ServiceAccount",
        "ClusterRole",
        "Deployment",
        "Service",
    ]


def test_uninstall_with_applications_needs_force() -> None:
    apps = [Application("team-a", "web"), Application("team-b", "api")]
    with pytest.raises(UninstallRefused, match=r"2 Application\(s\).*team-a/web.*--force"):
        removal(INSTALLED, apps, {}, force=False)


def test_uninstall_without_applications_keeps_the_crds_and_stops_the_operator_first() -> None:
    plan = removal(INSTALLED, [], {}, force=False)
    kinds = [o["kind"] for o in plan.delete]
    assert kinds[0] == "Deployment" and kinds[-1] == "Namespace"
    assert "CustomResourceDefinition" not in kinds
    assert plan.kept == [
        "CustomResourceDefinition applications.delivery.quarterdeck.dev: "
        "CRDs are removed only with --force"
    ]


def test_forced_uninstall_warns_what_goes_with_the_crds_and_keeps_managed_objects() -> None:
    # an Application that manages the install's own ClusterRole, and lives in its namespace
    app = Application("qd", "platform", (("ClusterRole", "", "quarterdeck-operator"),))
    plan = removal(INSTALLED, [app], {"applications.delivery.quarterdeck.dev": 3}, force=True)
    deleted = [ref(o) for o in plan.delete]
    assert ("ClusterRole", "", "quarterdeck-operator") not in deleted
    assert ("Namespace", "", "qd") not in deleted  # the Application lives there
    assert deleted[-1] == ("CustomResourceDefinition", "", "applications.delivery.quarterdeck.dev")
    assert plan.warnings == [
        "deleting CRD applications.delivery.quarterdeck.dev deletes its 3 objects"
    ]
    assert "ClusterRole quarterdeck-operator: an Application manages it" in plan.kept


def test_an_inventory_entry_without_namespace_means_the_applications_own() -> None:
    raw = {
        "metadata": {"name": "web", "namespace": "qd"},
        "status": {"inventory": [{"kind": "Service", "name": "quarterdeck-metrics"}]},
    }
    app = application_of(raw)
    assert app.inventory == (("Service", "", "quarterdeck-metrics"),)
    plan = removal(INSTALLED, [app], {}, force=True)
    assert ("Service", "qd", "quarterdeck-metrics") not in [ref(o) for o in plan.delete]


def test_the_committed_admission_policy_is_the_generated_one() -> None:
    from quarterdeck.install.generate import ADMISSION_FILE, admission_yaml

    hint = "regenerate: python -m quarterdeck.install.generate deploy"
    assert (DEPLOY / ADMISSION_FILE).read_text() == admission_yaml(), hint
