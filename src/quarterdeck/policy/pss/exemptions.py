"""The API server's PodSecurity admission configuration: defaults and exemptions.

A cluster's PodSecurity plugin is configured by a `PodSecurityConfiguration` inside the
API server's `AdmissionConfiguration` (`--admission-control-config-file`). It sets the
level:version an unlabelled namespace gets (per label: a namespace that sets only
`enforce` keeps the default `enforce-version`) and three exemptions that skip the
check entirely: the requesting user's name, the pod's `runtimeClassName`, and the
namespace. The API does not serve this file, so a prediction has to be given it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from quarterdeck.policy.pss.versions import (
    LATEST,
    LEVELS,
    Level,
    LevelVersion,
    Version,
    VersionError,
    parse_version,
)

PLUGIN = "PodSecurity"
CONFIG_GROUP = "pod-security.admission.config.k8s.io"
ADMISSION_GROUPS = ("apiserver.config.k8s.io", "apiserver.k8s.io")


class AdmissionConfigError(ValueError):
    """An admission configuration we cannot read; the message says where."""


@dataclass(frozen=True)
class PodSecurityConfig:
    """Defaults and exemptions as the API server's PodSecurity plugin holds them."""

    default_level: Level = "privileged"
    default_version: Version = LATEST
    usernames: frozenset[str] = frozenset()
    runtime_classes: frozenset[str] = frozenset()
    namespaces: frozenset[str] = frozenset()

    @property
    def defaults(self) -> LevelVersion:
        return LevelVersion(self.default_level, self.default_version)

    def exemption(self, namespace: str, username: str | None,
                  runtime_class: str | None) -> str | None:
        """Why PSA lets the request through unchecked ("namespace", "user",
        "runtimeClass", in the order PSA tests them), or None. Empty names exempt nothing."""
        if namespace and namespace in self.namespaces:
            return "namespace"
        if username and username in self.usernames:
            return "user"
        if runtime_class and runtime_class in self.runtime_classes:
            return "runtimeClass"
        return None


#: The configuration of an API server started without one.
DEFAULT = PodSecurityConfig()


def _names(exemptions: Mapping[str, Any], key: str) -> frozenset[str]:
    values = exemptions.get(key) or []
    if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
        raise AdmissionConfigError(f"exemptions.{key} must be a list of non-empty names")
    if len(set(values)) != len(values):
        raise AdmissionConfigError(f"exemptions.{key} has a name twice")
    return frozenset(values)


def from_pod_security_configuration(doc: Mapping[str, Any]) -> PodSecurityConfig:
    """Read a `PodSecurityConfiguration` (v1, v1beta1 or v1alpha1)."""
    group = str(doc.get("apiVersion", "")).rpartition("/")[0]
    if doc.get("kind") != "PodSecurityConfiguration" or group != CONFIG_GROUP:
        raise AdmissionConfigError(
            f"expected a {CONFIG_GROUP} PodSecurityConfiguration, "
            f"got {doc.get('apiVersion')!r} {doc.get('kind')!r}")
    defaults = doc.get("defaults") or {}
    exemptions = doc.get("exemptions") or {}
    if not isinstance(defaults, dict) or not isinstance(exemptions, dict):
        raise AdmissionConfigError("defaults and exemptions must be mappings")
    level = defaults.get("enforce", "privileged")
    if level not in LEVELS:
        raise AdmissionConfigError(
            f"defaults.enforce={level!r}: must be one of {', '.join(LEVELS)}")
    try:
        version = parse_version(str(defaults.get("enforce-version", "latest")))
    except VersionError as err:
        raise AdmissionConfigError(f"defaults.enforce-version: {err}") from None
    return PodSecurityConfig(level, version, _names(exemptions, "usernames"),
                             _names(exemptions, "runtimeClasses"),
                             _names(exemptions, "namespaces"))


def from_document(doc: Mapping[str, Any], base: Path | None = None) -> PodSecurityConfig:
    """The PodSecurity configuration in an `AdmissionConfiguration` (inline, or the
    plugin's `path`, relative to `base`), or a `PodSecurityConfiguration` itself. An
    AdmissionConfiguration without the plugin configures nothing: the defaults."""
    if doc.get("kind") != "AdmissionConfiguration":
        return from_pod_security_configuration(doc)
    if str(doc.get("apiVersion", "")).rpartition("/")[0] not in ADMISSION_GROUPS:
        raise AdmissionConfigError(f"unknown AdmissionConfiguration apiVersion "
                                   f"{doc.get('apiVersion')!r}")
    for plugin in doc.get("plugins") or []:
        if not isinstance(plugin, dict) or plugin.get("name") != PLUGIN:
            continue
        if isinstance(plugin.get("configuration"), dict):
            return from_pod_security_configuration(plugin["configuration"])
        if plugin.get("path"):
            path = Path(str(plugin["path"]))
            return load(path if path.is_absolute() or base is None else base / path)
        raise AdmissionConfigError("the PodSecurity plugin has neither configuration nor path")
    return DEFAULT


def load(path: Path) -> PodSecurityConfig:
    """Read an admission configuration file (the shell around `from_document`)."""
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise AdmissionConfigError(f"{path}: {err}".splitlines()[0]) from None
    if not isinstance(doc, dict):
        raise AdmissionConfigError(f"{path}: not a YAML mapping")
    try:
        return from_document(doc, path.parent)
    except AdmissionConfigError as err:
        raise AdmissionConfigError(f"{path}: {err}") from None
