"""Plumbing of the queueing kinds: quantities, label selectors, taints and tolerations.

ObjectMeta and Condition are the ones every quarterdeck group shares (`api.meta`).

Field names follow the Kubernetes API (camelCase when serialized) so that manifests
written for Kueue or kubectl load unchanged.
"""

from __future__ import annotations

from typing import Literal

import msgspec

GROUP = "queueing.quarterdeck.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KUEUE_API_VERSIONS = (
    "kueue.x-k8s.io/v1alpha1",  # Cohort
    "kueue.x-k8s.io/v1beta1",
    "kueue.x-k8s.io/v1beta2",
)

Quantity = int | float | str
"""A Kubernetes quantity as written in a manifest ("8", 8, "500m", "32Gi")."""


class Spec(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """Base for every nested API struct: camelCase on the wire, defaults omitted."""


class LabelSelectorRequirement(Spec, kw_only=True):
    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[str] = []


class LabelSelector(Spec, kw_only=True):
    """metav1.LabelSelector; an empty selector matches everything."""

    match_labels: dict[str, str] = {}
    match_expressions: list[LabelSelectorRequirement] = []

    def matches(self, labels: dict[str, str]) -> bool:
        """Whether `labels` satisfy every term, with Kubernetes semantics."""
        if any(labels.get(k) != v for k, v in self.match_labels.items()):
            return False
        for req in self.match_expressions:
            present = req.key in labels
            if req.operator == "Exists" and not present:
                return False
            if req.operator == "DoesNotExist" and present:
                return False
            if req.operator == "In" and (not present or labels[req.key] not in req.values):
                return False
            if req.operator == "NotIn" and present and labels[req.key] in req.values:
                return False
        return True


class Taint(Spec, kw_only=True):
    key: str
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]


class Toleration(Spec, kw_only=True):
    key: str | None = None
    operator: Literal["Exists", "Equal"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None

    def tolerates(self, taint: Taint) -> bool:
        """core/v1 toleration matching: empty key with Exists tolerates everything."""
        if self.effect is not None and self.effect != taint.effect:
            return False
        if self.key is None:
            return self.operator == "Exists"
        if self.key != taint.key:
            return False
        return self.operator == "Exists" or (self.value or "") == (taint.value or "")
