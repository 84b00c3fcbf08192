"""The ``Rollout`` kind (``delivery.quarterdeck.dev/v1alpha1``): a Deployment rolled out
progressively, the way Argo Rollouts users write one.

A Rollout is committed in place of a Deployment (same ``replicas``, ``selector``,
``template``) and synced by an Application like any object. The rollout controller
keeps two Deployments for it, ``NAME`` (stable) and ``NAME-canary``, and moves a new
template through ``strategy.canary.steps`` (traffic by replica ratio, or by HTTPRoute
weights when a route is named) or ``strategy.blueGreen`` (a Service selector switch),
with ``analysis`` gating every step. A breach aborts: the stable version keeps all
traffic, the Rollout is Degraded with the reason (which its Application reports).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from quarterdeck.api.crd import KindSpec, PrinterColumn
from quarterdeck.api.duration import DURATION_PATTERN
from quarterdeck.api.meta import Condition, ObjectMeta

GROUP = "delivery.quarterdeck.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
Duration = Annotated[
    str, msgspec.Meta(pattern=DURATION_PATTERN, description="A duration such as 30s, 5m, 1h.")
]


class Pause(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    duration: Duration = "1s"


class Step(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """One canary step: a weight to set (then analysis), or a pause."""

    set_weight: Annotated[int, msgspec.Meta(ge=0, le=100)] | None = None
    pause: Pause | None = None


class HTTPRouteRouting(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """Weights on a Gateway API HTTPRoute's backendRefs instead of the replica ratio."""

    name: str
    stable_service: str
    canary_service: str


class TrafficRouting(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    http_route: HTTPRouteRouting | None = None


class Canary(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    steps: list[Step] = []
    traffic_routing: TrafficRouting | None = None


class BlueGreen(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """The preview runs at full size; the active Service's selector is switched to it
    once the analysis passed, then the stable Deployment takes the new template.

    The Rollout owns both Services' ``spec.selector`` (its ``selector.matchLabels`` plus
    the role): the Application that syncs them applies them without one."""

    active_service: str
    preview_service: Annotated[
        str, msgspec.Meta(description="A Service that always selects the preview pods.")
    ] = ""


class Strategy(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    canary: Canary | None = None
    blue_green: BlueGreen | None = None


class PrometheusMetric(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    address: Annotated[str, msgspec.Meta(pattern=r"^https?://.+")]
    query: Annotated[str, msgspec.Meta(min_length=1)]


class CelMetric(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """A CEL expression over one object (``object``) of the Rollout's namespace."""

    api_version: str
    kind: str
    name: str
    expression: Annotated[str, msgspec.Meta(description="CEL: true when healthy.")]


class JobMetric(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """A Job run once per step: it passes when it completes, breaches when it fails."""

    template: dict[str, Any]


class Metric(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    name: Annotated[str, msgspec.Meta(min_length=1)]
    prometheus: PrometheusMetric | None = None
    success_condition: Annotated[
        str, msgspec.Meta(description="CEL over `result` (a double), for prometheus.")
    ] = ""
    cel: CelMetric | None = None
    job: JobMetric | None = None


class Analysis(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """Measured after every step that sets a weight (and before a blue/green switch)."""

    interval: Duration = "5s"
    count: Annotated[int, msgspec.Meta(ge=1, le=100)] = 1
    failure_limit: Annotated[int, msgspec.Meta(ge=0)] = 0
    metrics: list[Metric] = []


class RolloutSpec(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    replicas: Annotated[int, msgspec.Meta(ge=0)] = 1
    selector: dict[str, Any]
    template: dict[str, Any]
    strategy: Strategy = msgspec.field(default_factory=Strategy)
    analysis: Analysis | None = None


class Measurement(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    metric: str
    phase: Literal["Successful", "Failed", "Error"]
    value: str = ""
    time: str = ""
    step: int = 0


RolloutPhase = Literal["Progressing", "Healthy", "Degraded"]


class RolloutStatus(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    phase: RolloutPhase = "Progressing"
    message: str = ""
    observed_generation: int = 0
    stable_revision: str = ""
    canary_revision: str = ""
    aborted_revision: str = ""
    current_step: int = 0
    weight: int = 0
    step_started: float = 0.0  # the controller's clock (seconds); resets per step
    last_measured: float = 0.0
    measurements: list[Measurement] = []
    conditions: list[Condition] = []


class Rollout(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """A progressively delivered Deployment (Argo Rollouts: Rollout)."""

    api_version: str = API_VERSION
    kind: str = "Rollout"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: RolloutSpec
    status: RolloutStatus | None = None


def decode_rollout(obj: dict[str, Any]) -> Rollout:
    """A Rollout from a plain dict; raises msgspec.ValidationError."""
    return msgspec.convert(obj, Rollout)


KIND = KindSpec(
    Rollout,
    GROUP,
    VERSION,
    "rollouts",
    short_names=("qro",),
    categories=("quarterdeck",),
    columns=(
        PrinterColumn("Phase", ".status.phase"),
        PrinterColumn("Step", ".status.currentStep", type="integer"),
        PrinterColumn("Weight", ".status.weight", type="integer"),
        PrinterColumn("Message", ".status.message", priority=1),
        PrinterColumn("Age", ".metadata.creationTimestamp", type="date"),
    ),
)
KINDS = (KIND,)
