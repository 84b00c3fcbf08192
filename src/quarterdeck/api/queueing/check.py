"""AdmissionCheck, shaped like Kueue's: a gate between quota reserved and admitted.

A ClusterQueue lists checks (`admissionChecks`, or `admissionChecksStrategy` with
`onFlavors`); a Workload that reserves quota there is admitted only once every check
it needs says Ready in `status.admissionChecks`. The controller named by
`controllerName` sets those states. quarterdeck runs one: `queueing.quarterdeck.dev/
manual`, whose states a person (or a pipeline) sets with `qd queue check`. A check
with another controller (say Kueue's provisioning-request) keeps its ClusterQueue
inactive, saying so, since nothing here would ever set its state.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from quarterdeck.api.meta import Condition, ObjectMeta
from quarterdeck.api.queueing.meta import API_VERSION, Spec, Toleration

MANUAL = "queueing.quarterdeck.dev/manual"
FLEET = "fleet.quarterdeck.dev/dispatch"  # fleet: Ready once a worker cluster took the Job
CONTROLLERS = (MANUAL, FLEET)
CheckState = Literal["Pending", "Ready", "Retry", "Rejected"]


class CheckParameters(Spec, kw_only=True):
    api_group: str
    kind: str
    name: str


class AdmissionCheckSpec(Spec, kw_only=True):
    controller_name: str
    retry_delay_minutes: int | None = None  # deprecated in Kueue; accepted, unused
    parameters: CheckParameters | None = None


class AdmissionCheckStatus(Spec, kw_only=True):
    conditions: list[Condition] = []


class AdmissionCheck(Spec, kw_only=True):
    KIND: ClassVar[str] = "AdmissionCheck"
    api_version: str = API_VERSION
    kind: str = "AdmissionCheck"
    metadata: ObjectMeta
    spec: AdmissionCheckSpec
    status: AdmissionCheckStatus | None = None


class PodSetUpdate(Spec, kw_only=True):
    """What a check adds to one pod set's pods when its Job starts (Kueue's
    `podSetUpdates[]`): merged into the pod template, never overriding a value the
    Job or its flavor already set (a conflicting key keeps the Job suspended)."""

    name: str  # the pod set ("main" for a batch/v1 Job)
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    node_selector: dict[str, str] = {}
    tolerations: list[Toleration] = []


class AdmissionCheckState(Spec, kw_only=True):
    """One check's verdict on one Workload (`status.admissionChecks[]`)."""

    name: str
    state: CheckState = "Pending"
    message: str = ""
    last_transition_time: str = ""
    pod_set_updates: list[PodSetUpdate] = []


class RetryStrategy(Spec, kw_only=True):
    backoff_limit_count: int | None = None
    backoff_base_seconds: int | None = None
    backoff_max_seconds: int | None = None


class ProvisioningRequestConfigSpec(Spec, kw_only=True):
    provisioning_class_name: str
    parameters: dict[str, str] = {}
    managed_resources: list[str] = []
    retry_strategy: RetryStrategy | None = None
    pod_set_updates: dict[str, Any] | None = None
    pod_set_merge_policy: str | None = None


class ProvisioningRequestConfig(Spec, kw_only=True):
    """The parameters of Kueue's provisioning-request checks: accepted so Kueue's
    manifests load, used by nothing here (no cluster autoscaler to ask)."""

    KIND: ClassVar[str] = "ProvisioningRequestConfig"
    api_version: str = API_VERSION
    kind: str = "ProvisioningRequestConfig"
    metadata: ObjectMeta
    spec: ProvisioningRequestConfigSpec
