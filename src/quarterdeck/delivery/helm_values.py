"""Helm ``valuesFrom``: values read from ConfigMaps and Secrets before a render.

The shell part of Helm rendering. Objects are read from the Application's own
namespace only, through the sync's Cluster (impersonating the Application's
ServiceAccount when it has one), so an Application can use no values its RBAC
could not read. Secret values go to Helm and nowhere else: errors name the object
and key, never a value.
"""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

from quarterdeck import kyaml
from quarterdeck.delivery.cluster import Cluster, ClusterError, UnknownKind
from quarterdeck.delivery.manifests import Key
from quarterdeck.delivery.render import Options, RenderError


def _read(cluster: Cluster, kind: str, namespace: str, name: str, key: str) -> str | None:
    try:
        obj = cluster.get("v1", Key("", kind, namespace, name))
    except (ClusterError, UnknownKind) as err:
        raise RenderError(f"helm valuesFrom {kind} {namespace}/{name}: {err}") from None
    if obj is None:
        return None
    if kind == "Secret":
        raw = (obj.get("data") or {}).get(key)
        return base64.b64decode(raw).decode() if isinstance(raw, str) else None
    value = (obj.get("data") or {}).get(key)
    return value if isinstance(value, str) else None


def with_values_from(cluster: Cluster, options: Options) -> Options:
    """``options`` with each valuesFrom reference read and parsed (in order); RenderError
    for a missing object or key that is not optional, or values that are no mapping."""
    helm = options.helm
    if helm is None or not helm.values_from:
        return options
    resolved: list[dict[str, Any]] = []
    for ref in helm.values_from:
        where = f"helm valuesFrom {ref.kind} {helm.app_namespace}/{ref.name} key {ref.key!r}"
        text = _read(cluster, ref.kind, helm.app_namespace, ref.name, ref.key)
        if text is None:
            if ref.optional:
                continue
            raise RenderError(f"{where}: not found")
        try:
            data = kyaml.load(text, where)
        except kyaml.YAMLError:
            raise RenderError(f"{where}: not valid YAML") from None  # no echo of the text
        if data is None:
            continue
        if not isinstance(data, dict):
            raise RenderError(f"{where}: values must be a mapping")
        resolved.append(data)
    return dataclasses.replace(options, helm=dataclasses.replace(helm, resolved=tuple(resolved)))
