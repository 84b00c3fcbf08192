"""The `showback.quarterdeck.dev/v1alpha1` API: Pricing, UsageRecord, GpuIdlePolicy, Budget,
QueueObjective.

- `Pricing` (cluster-scoped; the one named `default` is used): price per hour per GPU
  model and MIG profile, per CPU core and GiB of memory, as decimal strings.
- `UsageRecord` (cluster-scoped, written by the showback controller): one pod's GPU
  holding and its utilisation steps. Records live in the cluster (etcd) so usage
  survives an operator restart and the deletion of the pod's namespace.
- `GpuIdlePolicy`: which pods, how idle for how long, and what to do about it.
- `Budget`: GPU-hours or money per period for a team, alert thresholds, a webhook.
- `QueueObjective`: queue-wait and utilisation objectives for a ClusterQueue.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from quarterdeck.api.crd import KindSpec, PrinterColumn
from quarterdeck.api.duration import DURATION_PATTERN
from quarterdeck.api.meta import Condition, ObjectMeta

GROUP = "showback.quarterdeck.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

Price = Annotated[
    str, msgspec.Meta(pattern=r"^[0-9]+(\.[0-9]+)?$", description="Per hour, e.g. '2.50'.")
]
Duration = Annotated[str, msgspec.Meta(pattern=DURATION_PATTERN)]
Percent = Annotated[float, msgspec.Meta(ge=0, le=100)]


class Envelope(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """What every showback kind starts with; each sets its `kind` and adds `spec`, `status`."""

    api_version: str = API_VERSION
    kind: str = ""
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)


# --- Pricing ---------------------------------------------------------------------------


class GpuPricing(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """One GPU model (its `nvidia.com/gpu.product` label) and its MIG profiles."""

    model: Annotated[str, msgspec.Meta(min_length=1)]
    per_hour: Price
    mig: Annotated[
        dict[str, Price],
        msgspec.Meta(description="Per instance-hour; a profile left out costs g/7 of perHour."),
    ] = {}


class PricingSpec(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    currency: str = "USD"
    gpus: list[GpuPricing] = []
    cpu_per_core_hour: Price = "0"
    memory_per_gib_hour: Price = "0"


class Pricing(Envelope, kw_only=True):
    """Prices per hour; the one named `default` is the cluster's."""

    kind: str = "Pricing"
    spec: PricingSpec


# --- UsageRecord -----------------------------------------------------------------------


class UtilStep(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """From `at` (Unix seconds) until the next step: `percent` busy (absent: unmeasured)."""

    at: float
    percent: float | None = None


class UsageRecordSpec(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    namespace: str
    pod: str
    pod_uid: str = ""
    node: str = ""
    model: str = ""
    queue: str = ""
    labels: dict[str, str] = {}
    gpu_milli: int = 0
    mig_profile: str = ""
    cpu_milli: int = 0
    memory_bytes: int = 0
    created: float | None = None
    start: float
    end: float | None = None
    util: list[UtilStep] = []
    notebook: bool = False


class UsageRecord(Envelope, kw_only=True):
    """One pod's GPU holding (written by the showback controller)."""

    kind: str = "UsageRecord"
    spec: UsageRecordSpec


# --- GpuIdlePolicy ---------------------------------------------------------------------

IdleAction = Literal["Report", "Notify", "Suspend", "DeleteNotebook"]


class GpuIdlePolicySpec(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    selector: Annotated[
        dict[str, str], msgspec.Meta(description="Pod labels that must all match (empty: all).")
    ] = {}
    threshold: Annotated[Percent, msgspec.Meta(description="Idle below this utilisation.")] = 5
    duration: Annotated[Duration, msgspec.Meta(description="For at least this long.")] = "30m"
    action: IdleAction = "Report"
    schedule: Annotated[
        str,
        msgspec.Meta(
            pattern=r"^([0-2][0-9]:[0-5][0-9]-[0-2][0-9]:[0-5][0-9])?$",
            description="Act only inside this daily UTC window, e.g. 20:00-08:00.",
        ),
    ] = ""
    dry_run: Annotated[bool, msgspec.Meta(description="Report what would be done; do nothing.")] = (
        False
    )


class IdleFinding(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    pod: str
    idle_since: float
    action: str
    done: bool = False
    message: str = ""


class GpuIdlePolicyStatus(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    observed_generation: int = 0
    conditions: list[Condition] = []
    idle: list[IdleFinding] = []


class GpuIdlePolicy(Envelope, kw_only=True):
    """Finds pods whose GPUs sit idle and reports, notifies, suspends or deletes them."""

    kind: str = "GpuIdlePolicy"
    spec: GpuIdlePolicySpec = msgspec.field(default_factory=GpuIdlePolicySpec)
    status: GpuIdlePolicyStatus | None = None


# --- Budget ----------------------------------------------------------------------------


class BudgetSpec(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    team: Annotated[str, msgspec.Meta(min_length=1, description="Value of the team label.")]
    team_label: str = "team"
    period: Literal["daily", "weekly", "monthly"] = "monthly"
    gpu_hours: Annotated[str, msgspec.Meta(pattern=r"^([0-9]+(\.[0-9]+)?)?$")] = ""
    cost: Annotated[str, msgspec.Meta(pattern=r"^([0-9]+(\.[0-9]+)?)?$")] = ""
    thresholds: list[Annotated[int, msgspec.Meta(ge=1, le=1000)]] = msgspec.field(
        default_factory=lambda: [50, 80, 100]
    )
    cluster_queue: Annotated[
        str, msgspec.Meta(description="The team's ClusterQueue (for stopBorrowing).")
    ] = ""
    stop_borrowing: Annotated[
        bool,
        msgspec.Meta(
            description="At 100% the ClusterQueue's borrowingLimits become 0 until the "
            "period ends (opt-in)."
        ),
    ] = False


class BudgetStatus(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    observed_generation: int = 0
    conditions: list[Condition] = []
    period_start: str = ""
    gpu_hours: float = 0.0
    cost: str = ""
    percent: float = 0.0
    crossed: list[int] = []
    borrowing_stopped: Annotated[
        str, msgspec.Meta(description="The ClusterQueue this Budget stopped borrowing.")
    ] = ""


class Budget(Envelope, kw_only=True):
    """A team's GPU-hours or money per period; crossing a threshold alerts."""

    kind: str = "Budget"
    spec: BudgetSpec
    status: BudgetStatus | None = None


# --- QueueObjective --------------------------------------------------------------------


class QueueObjectiveSpec(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    cluster_queue: Annotated[str, msgspec.Meta(min_length=1)]
    window: Duration = "168h"
    wait_p50: Duration | None = None
    wait_p95: Duration | None = None
    utilisation: Annotated[
        Percent | None, msgspec.Meta(description="Minimum utilisation of admitted GPUs.")
    ] = None
    target: Annotated[
        float, msgspec.Meta(gt=0, lt=1, description="Share of workloads within wait_p95.")
    ] = 0.95


class QueueObjectiveStatus(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    conditions: list[Condition] = []
    wait_p50_seconds: float | None = None
    wait_p95_seconds: float | None = None
    utilisation: float | None = None
    error_budget_remaining: float | None = None
    workloads: int = 0


class QueueObjective(Envelope, kw_only=True):
    """Queue-wait and GPU-utilisation objectives of one ClusterQueue, with error budget."""

    kind: str = "QueueObjective"
    spec: QueueObjectiveSpec
    status: QueueObjectiveStatus | None = None


def decode(obj: dict[str, Any], kind: type[msgspec.Struct]) -> Any:
    """A typed object from a plain dict; msgspec.ValidationError names the bad field."""
    return msgspec.convert(obj, kind)


def encode(obj: msgspec.Struct) -> dict[str, Any]:
    out: dict[str, Any] = msgspec.to_builtins(obj)
    return out


_CAT = ("quarterdeck", "showback")
KINDS = (
    KindSpec(Pricing, GROUP, VERSION, "pricings", scope="Cluster", categories=_CAT,
             columns=(PrinterColumn("Currency", ".spec.currency"),)),
    KindSpec(UsageRecord, GROUP, VERSION, "usagerecords", scope="Cluster", categories=_CAT,
             short_names=("gpuusage",),
             columns=(PrinterColumn("Namespace", ".spec.namespace"),
                      PrinterColumn("Pod", ".spec.pod"),
                      PrinterColumn("Model", ".spec.model"),
                      PrinterColumn("GPU-milli", ".spec.gpuMilli", type="integer"))),
    KindSpec(GpuIdlePolicy, GROUP, VERSION, "gpuidlepolicies", categories=_CAT,
             columns=(PrinterColumn("Action", ".spec.action"),
                      PrinterColumn("Threshold", ".spec.threshold", type="number"),
                      PrinterColumn("Duration", ".spec.duration"),
                      PrinterColumn("DryRun", ".spec.dryRun", type="boolean"))),
    KindSpec(Budget, GROUP, VERSION, "budgets", scope="Cluster", categories=_CAT,
             columns=(PrinterColumn("Team", ".spec.team"),
                      PrinterColumn("Period", ".spec.period"),
                      PrinterColumn("Percent", ".status.percent", type="number"))),
    KindSpec(QueueObjective, GROUP, VERSION, "queueobjectives", scope="Cluster", categories=_CAT,
             columns=(PrinterColumn("ClusterQueue", ".spec.clusterQueue"),
                      PrinterColumn("WaitP95", ".status.waitP95Seconds", type="number"))),
)  # fmt: skip
