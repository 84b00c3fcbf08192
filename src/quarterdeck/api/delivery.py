"""The ``delivery.quarterdeck.dev/v1alpha1`` API: Source and Application.

Shapes follow Flux (GitRepository + Kustomization) and Argo CD vocabulary so that
users' habits carry over. The CRD manifests in deploy/crds are generated from
these types by ``quarterdeck.api.crd``; the types are the single definition.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from quarterdeck.api.crd import KindSpec, PrinterColumn
from quarterdeck.api.duration import DURATION_PATTERN
from quarterdeck.api.meta import Condition, LocalReference, ObjectMeta, ObjectReference


def rollout_kinds() -> tuple[KindSpec, ...]:
    from quarterdeck.api.rollout import KINDS as rollouts

    return rollouts


GROUP = "delivery.quarterdeck.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

Duration = Annotated[
    str, msgspec.Meta(pattern=DURATION_PATTERN, description="A duration such as 30s, 5m, 1h.")
]


class GitRef(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """Which revision to follow; the most specific field wins: commit, semver, tag, branch."""

    branch: str = ""
    tag: str = ""
    semver: Annotated[str, msgspec.Meta(description="A range over tags: '>=1.0.0 <2.0.0'.")] = ""
    commit: Annotated[str, msgspec.Meta(pattern=r"^([0-9a-f]{7,64})?$")] = ""


class SourceSpec(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """A Git repository to follow."""

    url: Annotated[str, msgspec.Meta(pattern=r"^(file|https?|ssh)://.+", min_length=1)]
    ref: GitRef = msgspec.field(default_factory=GitRef)
    interval: Duration = "1m"
    timeout: Duration = "60s"
    secret_ref: Annotated[
        LocalReference | None,
        msgspec.Meta(description="Secret: 'token' (HTTPS) or 'identity' + 'known_hosts' (SSH)."),
    ] = None
    ignore: Annotated[str, msgspec.Meta(description="gitignore-style patterns to leave out.")] = ""
    suspend: bool = False


class Artifact(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """The resolved revision of a Source."""

    revision: str
    ref: str = ""
    time: str = ""
    author: str = ""
    message: str = ""


class SourceStatus(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """What the Source controller last observed."""

    conditions: list[Condition] = []
    observed_generation: int = 0
    artifact: Artifact | None = None


class Source(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """A Git repository and a ref to follow (Flux: GitRepository)."""

    api_version: str = API_VERSION
    kind: str = "Source"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: SourceSpec
    status: SourceStatus | None = None


class ValuesReference(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """Helm values from a key of a ConfigMap or Secret in the Application's namespace."""

    kind: Literal["ConfigMap", "Secret"]
    name: Annotated[str, msgspec.Meta(min_length=1)]
    values_key: str = "values.yaml"
    optional: bool = False


class HelmPostRender(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """A kustomize pass over Helm's output (inline fields only: patches, images, labels,
    commonLabels, commonAnnotations, namePrefix, nameSuffix, replicas)."""

    kustomize: dict[str, Any] = {}


class HelmOptions(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """Render the path with Helm: a chart directory, or a chart of a local chart repository."""

    release_name: Annotated[str, msgspec.Meta(description="Default: the chart's name.")] = ""
    namespace: Annotated[
        str, msgspec.Meta(description="Helm's --namespace; default: the target namespace.")
    ] = ""
    chart: Annotated[
        str, msgspec.Meta(description="A chart of the chart repository (index.yaml) at path.")
    ] = ""
    version: Annotated[str, msgspec.Meta(description="With chart: exact or a range.")] = ""
    values: dict[str, Any] = {}
    values_files: Annotated[
        list[str], msgspec.Meta(description="Relative to the chart; never outside the repo.")
    ] = []
    values_from: list[ValuesReference] = []
    post_render: HelmPostRender | None = None
    skip_crds: bool = False


class RenderOptions(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """How to turn the checked-out path into objects."""

    type: Literal["auto", "directory", "kustomize", "helm"] = "auto"
    target_namespace: str = ""
    name_prefix: str = ""
    allow_remote_bases: bool = False
    helm: HelmOptions | None = None


class Destination(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """Where objects go; an empty cluster means the cluster the operator runs in."""

    cluster: str = ""


class PruneOptions(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """Guard against a bad commit deleting most of an Application."""

    allow_empty: bool = False
    max_share: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] = 0.5


class HealthExpression(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """CEL over ``object`` deciding the health of a kind without built-in rules."""

    api_version: str
    kind: str
    current: Annotated[str, msgspec.Meta(description="CEL: true when healthy.")]
    failed: Annotated[str, msgspec.Meta(description="CEL: true when degraded.")] = ""


class Retry(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """How a failed sync is retried before the Application is Stalled."""

    interval: Duration = "30s"
    limit: Annotated[int, msgspec.Meta(ge=0)] = 5


class ApplicationSpec(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """Sync a path of a Source into a cluster."""

    source_ref: LocalReference
    path: str = "."
    service_account_name: Annotated[
        str,
        msgspec.Meta(
            description="Apply, prune and dry-run as this ServiceAccount of the namespace "
            "(impersonated), so the Application can do no more than its RBAC allows."
        ),
    ] = ""
    # tenancy (#9): the Project that bounds what this Application may read and write
    project: Annotated[
        str,
        msgspec.Meta(
            description="The Project (cluster-scoped) that bounds this Application; "
            "empty: the one named default."
        ),
    ] = ""
    render: RenderOptions = msgspec.field(default_factory=RenderOptions)
    destination: Destination = msgspec.field(default_factory=Destination)
    prune: bool = True
    prune_options: PruneOptions = msgspec.field(default_factory=PruneOptions)
    self_heal: bool = True
    wait: bool = True
    health_checks: list[ObjectReference] = []
    health_expressions: list[HealthExpression] = []
    depends_on: list[LocalReference] = []
    suspend: bool = False
    interval: Duration = "5m"
    timeout: Duration = "5m"
    retry: Retry = msgspec.field(default_factory=Retry)
    revision: Annotated[
        str,
        msgspec.Meta(description="Pin to this commit (`qd rollback`); empty follows the Source."),
    ] = ""
    recreate_on_immutable: bool = False
    history_limit: Annotated[int, msgspec.Meta(ge=1, le=100)] = 10


SyncState = Literal["Synced", "OutOfSync", "Pruned", "Failed", "Skipped"]
HealthState = Literal["Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"]


class ResourceStatus(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """Sync and health of one managed object."""

    api_version: str
    kind: str
    name: str
    namespace: str = ""
    sync: SyncState = "Synced"
    health: HealthState = "Unknown"
    message: str = ""


class FieldDrift(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """One field whose live value differs from what Git says."""

    path: str
    desired: Any = None
    live: Any = None


class ObjectDrift(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """Drift found on one object."""

    api_version: str
    kind: str
    name: str
    namespace: str = ""
    fields: list[FieldDrift] = []


class HookStatus(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """One hook run of a sync: which hook, at which phase, how and when it ended."""

    phase: Literal["PreSync", "Sync", "PostSync", "SyncFail"]
    hook: Annotated[
        str, msgspec.Meta(description="Kind ns/name as written (generateName: its prefix).")
    ]
    name: Annotated[str, msgspec.Meta(description="The object created; empty if none was.")] = ""
    result: Literal["Running", "Succeeded", "Failed"]
    started: str = ""
    finished: Annotated[
        str, msgspec.Meta(description="When it was seen finished; empty if it never did.")
    ] = ""
    message: str = ""


class HistoryEntry(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """One sync attempt, newest first in status.history."""

    revision: str
    time: str
    result: Literal["Succeeded", "Failed"]
    message: str = ""
    created: int = 0
    configured: int = 0
    unchanged: int = 0
    pruned: int = 0
    attempts: Annotated[
        int, msgspec.Meta(description="Syncs counted on this entry (repeats that changed nothing).")
    ] = 1
    last_time: Annotated[
        str, msgspec.Meta(description="The last repeat's time; ``time`` is the first sync's.")
    ] = ""
    hooks: Annotated[
        list[HookStatus], msgspec.Meta(description="The hooks the (last repeat of the) sync ran.")
    ] = []


class GuardrailWarning(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """A Warn or Audit guardrail outcome on an object of the last applied revision."""

    policy: str
    actions: list[Literal["Warn", "Audit"]] = []
    api_version: str = ""
    kind: str = ""
    name: str = ""
    namespace: str = ""
    message: str = ""


class ApplicationStatus(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """What the Application controller last did and saw."""

    conditions: list[Condition] = []
    observed_generation: int = 0
    last_applied_revision: str = ""
    last_attempted_revision: str = ""
    inventory: list[ObjectReference] = []
    resources: list[ResourceStatus] = []
    drift: list[ObjectDrift] = []
    history: list[HistoryEntry] = []
    guardrail_warnings: Annotated[
        list[GuardrailWarning],
        msgspec.Meta(description="Warn/Audit guardrail outcomes of the applied revision."),
    ] = []


class Application(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """A path in a Source, rendered and kept in sync with a cluster (Flux: Kustomization)."""

    api_version: str = API_VERSION
    kind: str = "Application"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: ApplicationSpec
    status: ApplicationStatus | None = None


def decode_source(obj: dict[str, Any]) -> Source:
    """A Source from a plain dict (lightkube or YAML); raises msgspec.ValidationError."""
    return msgspec.convert(obj, Source)


def decode_application(obj: dict[str, Any]) -> Application:
    """An Application from a plain dict; raises msgspec.ValidationError."""
    return msgspec.convert(obj, Application)


def encode(obj: Source | Application) -> dict[str, Any]:
    """Plain dict with Kubernetes field names, ready for the API server."""
    out: dict[str, Any] = msgspec.to_builtins(obj)
    return out


_READY = '.status.conditions[?(@.type=="Ready")]'
KINDS: tuple[KindSpec, ...] = (
    KindSpec(
        Source,
        GROUP,
        VERSION,
        "sources",
        short_names=("qsrc",),
        categories=("quarterdeck",),
        columns=(
            PrinterColumn("URL", ".spec.url"),
            PrinterColumn("Revision", ".status.artifact.revision"),
            PrinterColumn("Ready", f"{_READY}.status"),
            PrinterColumn("Status", f"{_READY}.message", priority=1),
            PrinterColumn("Age", ".metadata.creationTimestamp", type="date"),
        ),
    ),
    KindSpec(
        Application,
        GROUP,
        VERSION,
        "applications",
        short_names=("qapp",),
        categories=("quarterdeck",),
        columns=(
            PrinterColumn("Revision", ".status.lastAppliedRevision"),
            PrinterColumn("Ready", f"{_READY}.status"),
            PrinterColumn("Status", f"{_READY}.message"),
            PrinterColumn("Hooks", ".status.history[0].hooks[*].result", priority=1),
            PrinterColumn("Age", ".metadata.creationTimestamp", type="date"),
        ),
    ),
)

# delivery: the Rollout kind lives in quarterdeck.api.rollout (same group), installed with these
KINDS = (*KINDS, *rollout_kinds())
