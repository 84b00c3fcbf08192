"""The ``notification.quarterdeck.dev/v1alpha1`` API: Provider and Alert.

The pair Flux users know (notification-controller's Provider and Alert): a Provider
says where and how to send (a generic webhook signed with HMAC-SHA256, a Slack- or
Teams-compatible incoming webhook); an Alert says which events of which objects go
to it. Addresses and signing keys live in a Secret (``secretRef``), never in the spec.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from quarterdeck.api.crd import KindSpec, PrinterColumn
from quarterdeck.api.delivery import Duration
from quarterdeck.api.meta import Condition, LocalReference, ObjectMeta

GROUP = "notification.quarterdeck.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

ProviderType = Literal["generic", "generic-hmac", "slack", "msteams"]
EventType = Literal[
    "synced",
    "failed",
    "drift",
    "degraded",
    "guardrail-denied",
    "rollout-aborted",
    "rollout-completed",
    "budget-exceeded",
    "gpu-idle",  # showback's GpuIdlePolicy, action Notify
]
EVENT_TYPES: tuple[str, ...] = EventType.__args__  # type: ignore[attr-defined]


class ProviderSpec(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """Where to send and in which shape."""

    type: ProviderType
    address: Annotated[
        str,
        msgspec.Meta(
            pattern=r"^(https?://.+)?$",
            description="The URL; the Secret's 'address' key wins (keep tokens out of specs).",
        ),
    ] = ""
    secret_ref: Annotated[
        LocalReference | None,
        msgspec.Meta(description="Secret with 'address' and, for generic-hmac, 'token'."),
    ] = None
    timeout: Duration = "5s"
    rate: Annotated[
        int, msgspec.Meta(ge=1, le=6000, description="At most this many messages a minute.")
    ] = 60
    suspend: bool = False


# a Provider's or an Alert's: Ready, and the generation it was checked at
class Status(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    conditions: list[Condition] = []
    observed_generation: int = 0


class Provider(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """A notification endpoint (Flux: Provider)."""

    api_version: str = API_VERSION
    kind: str = "Provider"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: ProviderSpec
    status: Status | None = None


class EventSource(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """Objects whose events an Alert takes: by kind, name ('*' for all) and labels."""

    kind: str = "Application"
    name: str = "*"
    namespace: Annotated[str, msgspec.Meta(description="Empty: the Alert's own.")] = ""
    match_labels: dict[str, str] = {}


class AlertSpec(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """Which events go to which Provider."""

    provider_ref: LocalReference
    event_types: Annotated[list[EventType], msgspec.Meta(description="Empty: every type.")] = []
    event_sources: list[EventSource] = msgspec.field(default_factory=lambda: [EventSource()])
    summary: Annotated[str, msgspec.Meta(max_length=255)] = ""
    suspend: bool = False


class Alert(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """Events of matching objects sent to a Provider (Flux: Alert)."""

    api_version: str = API_VERSION
    kind: str = "Alert"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: AlertSpec
    status: Status | None = None


def decode_provider(obj: dict[str, Any]) -> Provider:
    """A Provider from a plain dict; raises msgspec.ValidationError."""
    return msgspec.convert(obj, Provider)


def decode_alert(obj: dict[str, Any]) -> Alert:
    """An Alert from a plain dict; raises msgspec.ValidationError."""
    return msgspec.convert(obj, Alert)


KINDS = (
    KindSpec(
        Provider,
        GROUP,
        VERSION,
        "providers",
        short_names=("qprov",),
        categories=("quarterdeck",),
        columns=(
            PrinterColumn("Type", ".spec.type"),
            PrinterColumn("Age", ".metadata.creationTimestamp", type="date"),
        ),
    ),
    KindSpec(
        Alert,
        GROUP,
        VERSION,
        "alerts",
        short_names=("qalert",),
        categories=("quarterdeck",),
        columns=(
            PrinterColumn("Provider", ".spec.providerRef.name"),
            PrinterColumn("Age", ".metadata.creationTimestamp", type="date"),
        ),
    ),
)
