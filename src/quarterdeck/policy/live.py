"""What `qd check --cluster` reads from a cluster: its Guardrails, its namespaces'
labels (Pod Security and namespaceSelectors) and the API server's minor version.

The thin shell around the pure checks: three reads, no decisions.
"""

from __future__ import annotations

import re
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


def read(client: Client) -> ClusterPolicies:
    """One LIST of Guardrails (none when the CRD is absent), one of Namespaces."""
    from lightkube.core.exceptions import ApiError
    from lightkube.resources.core_v1 import Namespace

    from quarterdeck.delivery.guardrail_cache import GuardrailRes

    guardrails, ignored = [], []
    try:
        docs = [dict(g) for g in client.list(GuardrailRes)]
    except ApiError as err:
        if err.status.code != 404:
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
