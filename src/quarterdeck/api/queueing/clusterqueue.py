"""ClusterQueue and LocalQueue, shaped like Kueue's so Kueue manifests load unchanged."""

from __future__ import annotations

from typing import ClassVar, Literal

import msgspec

from quarterdeck.api.meta import Condition, ObjectMeta
from quarterdeck.api.queueing.meta import API_VERSION, LabelSelector, Quantity, Spec

StopPolicy = Literal["None", "Hold", "HoldAndDrain"]


class ResourceQuota(Spec, kw_only=True):
    """Quota of one resource in one flavor.

    `borrowingLimit` caps what this queue may take from its cohort beyond nominal;
    `lendingLimit` caps how much of its nominal quota the cohort may use. Unset means
    unlimited (bounded by the cohort).
    """

    name: str
    nominal_quota: Quantity
    borrowing_limit: Quantity | None = None
    lending_limit: Quantity | None = None


class FlavorQuotas(Spec, kw_only=True):
    name: str
    resources: list[ResourceQuota]


class ResourceGroup(Spec, kw_only=True):
    """Resources that are always assigned the same flavor, tried in `flavors` order."""

    covered_resources: list[str]
    flavors: list[FlavorQuotas]


class BorrowWithinCohort(Spec, kw_only=True):
    policy: Literal["Never", "LowerPriority"] = "Never"
    max_priority_threshold: int | None = None


class ClusterQueuePreemption(Spec, kw_only=True):
    reclaim_within_cohort: Literal["Never", "LowerPriority", "Any"] = "Never"
    within_cluster_queue: Literal["Never", "LowerPriority", "LowerOrNewerEqualPriority"] = "Never"
    borrow_within_cohort: BorrowWithinCohort | None = None


class FlavorFungibility(Spec, kw_only=True):
    """When to stop at a flavor that fits only by borrowing or preempting.

    Kueue v1beta2 spells the stopping values `MayStopSearch`; both spellings load.
    """

    when_can_borrow: Literal["Borrow", "MayStopSearch", "TryNextFlavor"] = "Borrow"
    when_can_preempt: Literal["Preempt", "MayStopSearch", "TryNextFlavor"] = "TryNextFlavor"


class FairSharing(Spec, kw_only=True):
    weight: Quantity = 1


class AdmissionCheckStrategyRule(Spec, kw_only=True):
    """A check the queue's workloads need; with `onFlavors`, only on those flavors."""

    name: str
    on_flavors: list[str] = []


class AdmissionChecksStrategy(Spec, kw_only=True):
    admission_checks: list[AdmissionCheckStrategyRule] = []


class ClusterQueueSpec(Spec, kw_only=True):
    """`cohort` (v1beta1) and `cohortName` (v1beta2) are the same field."""

    resource_groups: list[ResourceGroup] = []
    cohort: str | None = None
    cohort_name: str | None = None
    queueing_strategy: Literal["StrictFIFO", "BestEffortFIFO"] = "BestEffortFIFO"
    namespace_selector: LabelSelector | None = None
    preemption: ClusterQueuePreemption = msgspec.field(default_factory=ClusterQueuePreemption)
    flavor_fungibility: FlavorFungibility = msgspec.field(default_factory=FlavorFungibility)
    fair_sharing: FairSharing | None = None
    stop_policy: StopPolicy = "None"
    admission_checks: list[str] = []
    admission_checks_strategy: AdmissionChecksStrategy | None = None

    @property
    def cohort_of(self) -> str | None:
        return self.cohort_name or self.cohort

    def checks(self) -> list[AdmissionCheckStrategyRule]:
        """Every check the queue names, by either spelling (Kueue allows only one)."""
        rules = [AdmissionCheckStrategyRule(name=n) for n in self.admission_checks]
        strategy = self.admission_checks_strategy
        return rules + (list(strategy.admission_checks) if strategy else [])


class ResourceUsage(Spec, kw_only=True):
    name: str
    total: Quantity = 0
    borrowed: Quantity = 0


class FlavorUsage(Spec, kw_only=True):
    name: str
    resources: list[ResourceUsage] = []


class ClusterQueueStatus(Spec, kw_only=True):
    conditions: list[Condition] = []
    pending_workloads: int = 0
    reserving_workloads: int = 0
    admitted_workloads: int = 0
    flavors_reservation: list[FlavorUsage] = []
    flavors_usage: list[FlavorUsage] = []


class ClusterQueue(Spec, kw_only=True):
    KIND: ClassVar[str] = "ClusterQueue"
    api_version: str = API_VERSION
    kind: str = "ClusterQueue"
    metadata: ObjectMeta
    spec: ClusterQueueSpec = msgspec.field(default_factory=ClusterQueueSpec)
    status: ClusterQueueStatus | None = None


class CohortSpec(Spec, kw_only=True):
    """`parent` (Kueue v1alpha1) and `parentName` (v1beta2) are the same field."""

    parent: str | None = None
    parent_name: str | None = None
    resource_groups: list[ResourceGroup] = []
    fair_sharing: FairSharing | None = None

    @property
    def parent_of(self) -> str | None:
        return self.parent_name or self.parent


class Cohort(Spec, kw_only=True):
    """A named group of ClusterQueues; needed only for a parent or quota of its own."""

    KIND: ClassVar[str] = "Cohort"
    api_version: str = API_VERSION
    kind: str = "Cohort"
    metadata: ObjectMeta
    spec: CohortSpec = msgspec.field(default_factory=CohortSpec)


class LocalQueueSpec(Spec, kw_only=True):
    cluster_queue: str
    stop_policy: StopPolicy = "None"


class LocalQueueStatus(Spec, kw_only=True):
    conditions: list[Condition] = []
    pending_workloads: int = 0
    reserving_workloads: int = 0
    admitted_workloads: int = 0


class LocalQueue(Spec, kw_only=True):
    """A namespaced entry point that users name in their Jobs' queue-name label."""

    KIND: ClassVar[str] = "LocalQueue"
    api_version: str = API_VERSION
    kind: str = "LocalQueue"
    metadata: ObjectMeta
    spec: LocalQueueSpec
    status: LocalQueueStatus | None = None
