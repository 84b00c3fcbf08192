"""Load queueing objects from YAML manifests (ours or Kueue's) with one-line errors."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgspec
import msgspec.inspect as mi

from quarterdeck import kyaml
from quarterdeck.api.queueing.check import AdmissionCheck, ProvisioningRequestConfig
from quarterdeck.api.queueing.clusterqueue import ClusterQueue, Cohort, LocalQueue, ResourceGroup
from quarterdeck.api.queueing.flavor import ResourceFlavor, Topology
from quarterdeck.api.queueing.meta import API_VERSION, KUEUE_API_VERSIONS
from quarterdeck.api.queueing.quantity import QuantityError, to_milli
from quarterdeck.api.queueing.workload import Workload, WorkloadPriorityClass, pod_requests

QueueingObject = (
    AdmissionCheck
    | ProvisioningRequestConfig
    | ResourceFlavor
    | Topology
    | ClusterQueue
    | Cohort
    | LocalQueue
    | Workload
    | WorkloadPriorityClass
)
KINDS: dict[str, type[QueueingObject]] = {
    cls.KIND: cls
    for cls in (
        AdmissionCheck,
        ProvisioningRequestConfig,
        ResourceFlavor,
        Topology,
        ClusterQueue,
        Cohort,
        LocalQueue,
        Workload,
        WorkloadPriorityClass,
    )
}
ACCEPTED_API_VERSIONS = (API_VERSION, *KUEUE_API_VERSIONS)


class ManifestError(ValueError):
    """A manifest that cannot be loaded; the message names the file, document and field."""


def load_files(paths: Iterable[Path]) -> list[QueueingObject]:
    """Load every document of every file; nothing is returned unless all of it is valid."""
    objects: list[QueueingObject] = []
    for path in paths:
        try:
            text = path.read_text()
        except OSError as err:
            raise ManifestError(f"{path}: cannot read: {err.strerror}") from err
        objects.extend(load_manifests(text, str(path)))
    _check_unique(objects)
    return objects


def load_manifests(text: str, source: str = "<input>") -> list[QueueingObject]:
    """Parse a multi-document YAML string into typed objects, validating quantities."""
    try:
        docs = [d.data for d in kyaml.load_all(text, source)]
    except kyaml.YAMLError as err:
        raise ManifestError(str(err)) from None
    return load_documents(docs, source)


def load_documents(docs: Iterable[Any], source: str = "<input>") -> list[QueueingObject]:
    """Typed objects from already-parsed YAML documents (None documents are skipped)."""
    objects: list[QueueingObject] = []
    for index, doc in enumerate(docs, start=1):
        if doc is None:
            continue
        objects.extend(_load_document(doc, f"{source}: document {index}"))
    _check_unique(objects)
    return objects


def _load_document(doc: Any, where: str) -> list[QueueingObject]:
    if not isinstance(doc, dict):
        raise ManifestError(f"{where}: expected a mapping, got {type(doc).__name__}")
    kind = doc.get("kind")
    if kind == "List" and isinstance(doc.get("items"), list):
        return [
            o
            for i, item in enumerate(doc["items"])
            for o in _load_document(item, f"{where} item {i}")
        ]
    api_version = doc.get("apiVersion")
    if api_version not in ACCEPTED_API_VERSIONS:
        raise ManifestError(
            f"{where}: apiVersion {api_version!r} is not one of {', '.join(ACCEPTED_API_VERSIONS)}"
        )
    cls = KINDS.get(str(kind))
    if cls is None:
        raise ManifestError(f"{where}: unknown kind {kind!r} (known: {', '.join(sorted(KINDS))})")
    name = (
        (doc.get("metadata") or {}).get("name") if isinstance(doc.get("metadata"), dict) else None
    )
    where = f"{where} ({kind} {name or '<unnamed>'})"
    unknown = unknown_fields(doc, cls)
    if unknown:
        raise ManifestError(
            f"{where}: {unknown[0]}: field not supported by quarterdeck "
            "(refused rather than dropped)"
        )
    try:
        obj = msgspec.convert(doc, cls)
    except msgspec.ValidationError as err:
        raise ManifestError(f"{where}: {err}") from err
    if not obj.metadata.name:
        raise ManifestError(f"{where}: metadata.name is required")
    try:
        validate(obj)
    except (QuantityError, ValueError) as err:
        raise ManifestError(f"{where}: {err}") from err
    return [obj]


def unknown_fields(doc: dict[str, Any], cls: type[QueueingObject]) -> list[str]:
    """Paths of fields in `doc` (outside metadata and status) that `cls` does not have.

    msgspec ignores unknown fields; a Kueue field we do not implement must be refused
    with its name, never dropped without a word.
    """
    info = _type_info(cls)
    out: list[str] = []
    for f in info.fields:
        if f.encode_name in ("metadata", "status") or f.encode_name not in doc:
            continue
        _walk(doc[f.encode_name], f.type, f.encode_name, out)
    known = {f.encode_name for f in info.fields}
    out += [k for k in doc if k not in known]
    return out


@functools.cache
def _type_info(cls: type[QueueingObject]) -> mi.StructType:
    """`cls`'s field types, worked out once: msgspec rebuilds them from the annotations on
    every call, which cost most of a controller pass when each pass decoded the
    ClusterQueues whose status it had just written."""
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    return info


def _walk(value: Any, tp: mi.Type, path: str, out: list[str]) -> None:
    if isinstance(tp, mi.UnionType):
        for member in tp.types:
            if isinstance(member, (mi.StructType, mi.ListType)):
                _walk(value, member, path, out)
        return
    if isinstance(tp, mi.ListType) and isinstance(value, list):
        for i, item in enumerate(value):
            _walk(item, tp.item_type, f"{path}[{i}]", out)
    elif isinstance(tp, mi.StructType) and isinstance(value, dict):
        fields = {f.encode_name: f for f in tp.fields}
        for key, item in value.items():
            f = fields.get(key)
            if f is None:
                out.append(f"{path}.{key}")
            else:
                _walk(item, f.type, f"{path}.{key}", out)


def validate(obj: QueueingObject) -> None:
    """Semantic checks the schema cannot express; raises ValueError naming the field."""
    if isinstance(obj, ClusterQueue):
        _validate_cluster_queue(obj)
    elif isinstance(obj, Workload):
        _validate_workload(obj)
    elif isinstance(obj, Cohort):
        _validate_cohort(obj)


def _validate_cluster_queue(cq: ClusterQueue) -> None:
    _validate_resource_groups(cq.spec.resource_groups)
    if cq.spec.fair_sharing is not None:
        to_milli(cq.spec.fair_sharing.weight, "spec.fairSharing.weight")
    if cq.spec.cohort and cq.spec.cohort_name and cq.spec.cohort != cq.spec.cohort_name:
        raise ValueError("spec.cohort and spec.cohortName disagree")
    if cq.spec.admission_checks and cq.spec.admission_checks_strategy is not None:
        raise ValueError(  # as Kueue's validation says
            "spec.admissionChecks and spec.admissionChecksStrategy cannot both be set"
        )


def _validate_cohort(cohort: Cohort) -> None:
    _validate_resource_groups(cohort.spec.resource_groups)
    spec = cohort.spec
    if spec.parent and spec.parent_name and spec.parent != spec.parent_name:
        raise ValueError("spec.parent and spec.parentName disagree")
    if spec.parent_of == cohort.metadata.name:
        raise ValueError(f"spec.parent: cohort {cohort.metadata.name} is its own parent")
    if spec.fair_sharing is not None:
        to_milli(spec.fair_sharing.weight, "spec.fairSharing.weight")


def _validate_resource_groups(groups: list[ResourceGroup]) -> None:
    seen_resources: set[str] = set()
    seen_flavors: set[str] = set()
    for g, group in enumerate(groups):
        where = f"spec.resourceGroups[{g}]"
        dup = seen_resources.intersection(group.covered_resources)
        if dup:
            raise ValueError(f"{where}.coveredResources: {sorted(dup)[0]} is covered by two groups")
        seen_resources.update(group.covered_resources)
        for f, flavor in enumerate(group.flavors):
            fwhere = f"{where}.flavors[{f}]"
            if flavor.name in seen_flavors:
                raise ValueError(f"{fwhere}.name: flavor {flavor.name} appears twice")
            seen_flavors.add(flavor.name)
            names = [r.name for r in flavor.resources]
            if names != group.covered_resources:
                raise ValueError(
                    f"{fwhere}.resources: must list {group.covered_resources} in order, got {names}"
                )
            for r, quota in enumerate(flavor.resources):
                rwhere = f"{fwhere}.resources[{r}]"
                nominal = to_milli(quota.nominal_quota, f"{rwhere}.nominalQuota")
                if quota.borrowing_limit is not None:
                    to_milli(quota.borrowing_limit, f"{rwhere}.borrowingLimit")
                if quota.lending_limit is not None:
                    lending = to_milli(quota.lending_limit, f"{rwhere}.lendingLimit")
                    if lending > nominal:
                        raise ValueError(f"{rwhere}.lendingLimit: exceeds nominalQuota")


def _validate_workload(wl: Workload) -> None:
    if not wl.spec.pod_sets:
        raise ValueError("spec.podSets: at least one pod set is required")
    names: set[str] = set()
    for i, ps in enumerate(wl.spec.pod_sets):
        where = f"spec.podSets[{i}]"
        if ps.name in names:
            raise ValueError(f"{where}.name: duplicate pod set {ps.name}")
        names.add(ps.name)
        if ps.count < 0:
            raise ValueError(f"{where}.count: must be >= 0, got {ps.count}")
        if ps.min_count is not None and not 0 < ps.min_count <= ps.count:
            raise ValueError(f"{where}.minCount: must be in 1..count, got {ps.min_count}")
        pod_requests(ps.template, f"{where}.template")


def _check_unique(objects: list[QueueingObject]) -> None:
    seen: set[tuple[str, str | None, str]] = set()
    for obj in objects:
        key = (obj.KIND, obj.metadata.namespace, obj.metadata.name)
        if key in seen:
            ns = f"{key[1]}/" if key[1] else ""
            raise ManifestError(f"duplicate {key[0]} {ns}{key[2]}")
        seen.add(key)
