"""What `qd check --cluster` reads from a cluster: its Guardrails, its namespaces'
labels (Pod Security and namespaceSelectors) and the API server's minor version.

The thin shell around the pure checks: three reads, no decisions.
"""

from __future__ import annotations

import re
import time
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from quarterdeck.api.policy import Guardrail, PolicyLoadError, guardrail_from_dict

if TYPE_CHECKING:
    from lightkube import Client


@dataclass(frozen=True)
class ClusterPolicies:
    guardrails: list[Guardrail] = field(default_factory=list)
    namespaces: dict[str, dict[str, str]] = field(default_factory=dict)
    server_minor: int | None = None
    ignored: list[str] = field(default_factory=list)  # Guardrails that do not decode


def server_minor(client: Client) -> int | None:
    """The API server's minor version (`/version`), None if it does not say. lightkube
    has no call for it, so this uses the client's own HTTP connection."""
    response = client._client._client.get("/version")
    if response.status_code != 200:
        return None
    digits = re.match(r"\d+", str(response.json().get("minor", "")))
    return int(digits.group(0)) if digits else None


_MINORS: weakref.WeakKeyDictionary[Client, tuple[int | None, float]] = \
    weakref.WeakKeyDictionary()


def recent_server_minor(client: Client, max_age: float = 300.0) -> int | None:
    """`server_minor`, read at most once per `max_age` seconds per client: the delivery
    gate asks on every sync, and a server changes version only on an upgrade. A failed
    read is None (the gate then judges `latest` by our newest rules) and is retried."""
    now = time.monotonic()
    try:
        cached = _MINORS.get(client)
        if cached is not None and now - cached[1] < max_age:
            return cached[0]
        _MINORS[client] = (minor := server_minor(client), now)
    except Exception:  # unreachable, TLS, ...: the sync itself will report it
        return None
    return minor


def read(client: Client) -> ClusterPolicies:
    """One LIST of Guardrails (none when the CRD is absent), one of Namespaces."""
    from lightkube.resources.core_v1 import Namespace

    from quarterdeck.delivery.guardrail_cache import GuardrailRes
    from quarterdeck.kube.errors import NotFound, classify

    guardrails, ignored = [], []
    try:
        docs = [dict(g) for g in client.list(GuardrailRes)]
    except Exception as err:  # a path not served is a bare 404, not an ApiError
        if not isinstance(classify(err), NotFound):
            raise
        docs = []
    for doc in docs:
        try:
            guardrails.append(guardrail_from_dict(doc))
        except PolicyLoadError as err:
            ignored.append(str(err))
    namespaces = {str(n.metadata.name): dict(n.metadata.labels or {})
                  for n in client.list(Namespace) if n.metadata}
    return ClusterPolicies(guardrails, namespaces, server_minor(client), ignored)
