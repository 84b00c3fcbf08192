"""`install_crds` on a real API server: applied, served at once, conflicts reported."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from lightkube import Client
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition

from quarterdeck.kube.crds import CRDInstallError, install_crds


def _crd(group: str, plural: str, kind: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": plural[:-1], "kind": kind},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object"}},
                }
            ],
        },
    }


def test_installed_crds_serve_objects_immediately(kube: Client, namespace: str) -> None:
    group = f"t{uuid.uuid4().hex[:8]}.example.test"
    manifests = [_crd(group, "widgets", "Widget"), _crd(group, "gadgets", "Gadget")]
    try:
        install_crds(kube, manifests, timeout=30)
        widget = create_namespaced_resource(group, "v1", "Widget", "widgets")
        gadget = create_namespaced_resource(group, "v1", "Gadget", "gadgets")
        # listable at once, with no retry: never 429 "storage is (re)initializing"
        assert list(kube.list(widget, namespace="*")) == []
        assert list(kube.list(gadget, namespace="*")) == []
        install_crds(kube, manifests, timeout=30)  # a second install changes nothing
        kube.create(widget.from_dict({"metadata": {"name": "w", "namespace": namespace}}))
        assert kube.get(widget, "w", namespace=namespace).metadata.name == "w"
    finally:
        for m in manifests:
            kube.delete(CustomResourceDefinition, m["metadata"]["name"])


def test_a_crd_whose_kind_is_taken_is_reported(kube: Client) -> None:
    group = f"t{uuid.uuid4().hex[:8]}.example.test"
    first, clash = _crd(group, "widgets", "Widget"), _crd(group, "doodads", "Widget")
    try:
        install_crds(kube, [first], timeout=30)
        with pytest.raises(CRDInstallError, match=r"doodads.*already in use"):
            install_crds(kube, [clash], timeout=30)
    finally:
        for m in (first, clash):
            kube.delete(CustomResourceDefinition, m["metadata"]["name"])
