"""The one queueing configuration, as the cycle and the placer use it (pure).

`config_from_document` checks a `QueueingConfig` (from the cluster or a file) and
refuses bad input with the field named; `placer_from` builds the placer and
`configure` applies fair sharing to a snapshot. The live operator and
`qd simulate replay` call the same three functions, so both run one configuration.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import msgspec

from quarterdeck import kyaml
from quarterdeck.api.queueing.config import CONFIG_NAME
from quarterdeck.api.queueing.config import QueueingConfig as ApiQueueingConfig
from quarterdeck.api.queueing.meta import API_VERSION, KUEUE_API_VERSIONS
from quarterdeck.api.queueing.quantity import QuantityError, to_milli
from quarterdeck.placement import POLICIES, PlacementError, Request
from quarterdeck.queueing.dra import DEVICE_CLASS_RESOURCES
from quarterdeck.queueing.gpus import GpuPlacer, request_of
from quarterdeck.queueing.model import Snapshot

PREEMPTION_STRATEGIES = ("LessThanOrEqualToFinalShare", "LessThanInitialShare")


class ConfigError(ValueError):
    """A QueueingConfig that cannot be used; the message names the field."""


@dataclass(frozen=True, slots=True)
class QueueingConfig:
    """Checked configuration. `fallback` is FGD's target workload until one is learned."""

    policy: str = "bestfit"
    seed: int = 0
    recent_admitted: int = 1000
    fallback: tuple[tuple[Request, float], ...] = ()
    fair_sharing: bool = False
    preemption_strategies: tuple[str, ...] = PREEMPTION_STRATEGIES
    weights: Mapping[str, float] = field(default_factory=dict)
    device_classes: Mapping[str, str] = field(default_factory=lambda: dict(DEVICE_CLASS_RESOURCES))
    staging: bool = False  # the shell's, not the cycle's: pods of the next Jobs made early


# A DeviceClass name is a DNS subdomain; a resource name is [prefix/]name as in core/v1.
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_RESOURCE = re.compile(
    r"([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
)


def _device_classes(given: Mapping[str, str], where: str) -> dict[str, str]:
    out = dict(DEVICE_CLASS_RESOURCES)
    for name, resource in given.items():
        at = f"{where}: spec.deviceClasses.{name}"
        if len(name) > 253 or not _SUBDOMAIN.fullmatch(name):
            raise ConfigError(f"{at}: {name!r} is not a DeviceClass name (a DNS subdomain)")
        if not _RESOURCE.fullmatch(resource):
            raise ConfigError(f"{at}: {resource!r} is not a resource name")
        out[name] = resource
    return out


DEFAULT = QueueingConfig()


def config_from_document(doc: Any, where: str = "QueueingConfig") -> QueueingConfig:
    """A checked config from a parsed YAML/JSON document; ConfigError naming the field."""
    if not isinstance(doc, Mapping):
        raise ConfigError(f"{where}: expected a mapping")
    if doc.get("kind") != "QueueingConfig":
        raise ConfigError(f"{where}: kind must be QueueingConfig, got {doc.get('kind')!r}")
    if doc.get("apiVersion") not in (API_VERSION, *KUEUE_API_VERSIONS):
        raise ConfigError(f"{where}: apiVersion must be {API_VERSION}")
    try:
        api = msgspec.convert(doc, ApiQueueingConfig)
    except msgspec.ValidationError as err:
        raise ConfigError(f"{where}: {err}") from None
    spec = api.spec
    p, fs = spec.placement, spec.fair_sharing
    if p.policy not in POLICIES:
        raise ConfigError(
            f"{where}: spec.placement.policy: unknown policy {p.policy!r}; "
            f"choose from {', '.join(POLICIES)}"
        )
    tw = p.target_workload
    if tw.recent_admitted < 1:
        raise ConfigError(f"{where}: spec.placement.targetWorkload.recentAdmitted: must be >= 1")
    fallback: list[tuple[Request, float]] = []
    for i, item in enumerate(tw.fallback):
        at = f"spec.placement.targetWorkload.fallback[{i}]"
        weight = _weight(item.weight, f"{where}: {at}.weight")
        try:
            milli = {r: to_milli(v, f"{at}.requests.{r}") for r, v in item.requests.items()}
            fallback.append((request_of(milli), weight))
        except (QuantityError, PlacementError) as err:
            raise ConfigError(f"{where}: {at}.requests: {err}") from None
    unknown = [s for s in fs.preemption_strategies if s not in PREEMPTION_STRATEGIES]
    if unknown:
        raise ConfigError(
            f"{where}: spec.fairSharing.preemptionStrategies: unknown strategy {unknown[0]!r}; "
            f"choose from {', '.join(PREEMPTION_STRATEGIES)}"
        )
    if fs.enable and not fs.preemption_strategies:
        raise ConfigError(f"{where}: spec.fairSharing.preemptionStrategies: must not be empty")
    weights = {
        name: _weight(v, f"{where}: spec.fairSharing.weights.{name}")
        for name, v in fs.weights.items()
    }
    return QueueingConfig(
        policy=p.policy,
        seed=p.seed,
        recent_admitted=tw.recent_admitted,
        fallback=tuple(fallback),
        fair_sharing=fs.enable,
        preemption_strategies=tuple(fs.preemption_strategies),
        weights=weights,
        device_classes=_device_classes(spec.device_classes, where),
        staging=spec.staging.enable,
    )


def _weight(value: Any, where: str) -> float:
    try:
        milli = to_milli(value, where)
    except QuantityError as err:
        raise ConfigError(str(err)) from None
    if milli < 0:
        raise ConfigError(f"{where}: must be >= 0, got {value}")
    return milli / 1000


def load_config_file(path: Path) -> QueueingConfig:
    """The QueueingConfig in a YAML file (one document)."""
    where = str(path)
    try:  # the project's one YAML reader: Kubernetes' scalars, bounds, file:line:column
        doc = kyaml.load(kyaml.read_bytes(path, where, kyaml.LIMITS.max_bytes), where)
    except kyaml.YAMLError as err:
        raise ConfigError(str(err)) from None
    return config_from_document(doc, where)


def config_from_objects(docs: Sequence[Mapping[str, Any]]) -> QueueingConfig:
    """The config among listed QueueingConfig objects: the one named `default`, else
    the defaults (other names are ignored)."""
    for doc in docs:
        meta = doc.get("metadata") or {}
        if isinstance(meta, Mapping) and meta.get("name") == CONFIG_NAME:
            return config_from_document(doc, f"QueueingConfig {CONFIG_NAME}")
    return DEFAULT


def placer_from(config: QueueingConfig) -> GpuPlacer:
    """The placer a cycle uses under `config` (keep it across passes: FGD learns)."""
    return GpuPlacer(
        config.policy,
        config.seed,
        recent_admitted=config.recent_admitted,
        fallback=config.fallback,
    )


def configure(snapshot: Snapshot, config: QueueingConfig) -> Snapshot:
    """`snapshot` with the config's fair sharing: on/off, strategies, weight overrides."""
    queues = {
        name: replace(cq, weight=config.weights[name]) if name in config.weights else cq
        for name, cq in snapshot.cluster_queues.items()
    }
    cohorts = {
        name: replace(c, weight=config.weights[name]) if name in config.weights else c
        for name, c in snapshot.cohorts.items()
    }
    return replace(
        snapshot,
        cluster_queues=queues,
        cohorts=cohorts,
        fair_sharing=config.fair_sharing,
        preemption_strategies=config.preemption_strategies,
    )
