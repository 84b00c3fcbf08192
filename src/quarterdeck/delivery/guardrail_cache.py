"""The Guardrails (and namespace labels) a delivery sync is checked against, from the cluster.

The controller asks before every sync. One LIST of Guardrails, plus one of
Namespaces only when some Guardrail has a namespaceSelector, serves every sync
within ``max_age`` seconds (the operator's tick), so a pass over 1,000
Applications costs two list calls rather than 2,000, and a changed Guardrail
takes effect within a tick. Reading fails closed: if Guardrails cannot be listed
the sync fails with that reason rather than running unchecked; a cluster without
the Guardrail CRD simply has none.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lightkube import Client
from lightkube.generic_resource import create_global_resource
from lightkube.resources.core_v1 import Namespace

from quarterdeck.api.policy import GROUP, KIND, VERSION, Guardrail, PolicyLoadError
from quarterdeck.api.policy import guardrail_from_dict as decode_guardrail
from quarterdeck.delivery.cluster import ClusterError, call_api
from quarterdeck.delivery.guardrail_findings import selects_namespaces
from quarterdeck.delivery.listed import ListedView

GuardrailRes = create_global_resource(GROUP, VERSION, KIND, "guardrails")
#: Pauses between reads that failed: a just-created or just-updated CRD answers 503
#: ("storage is (re)initializing") for a moment, which must not fail a sync.
RETRY_DELAYS = (0.2, 0.5, 1.0)


@dataclass(frozen=True)
class PolicyView:
    """What the pre-sync gate needs: Guardrails, live namespace labels, or why not."""

    guardrails: tuple[Guardrail, ...] = ()
    namespaces: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    error: str = ""


class GuardrailCache(ListedView[PolicyView]):
    """Lists Guardrails at most once per ``max_age`` seconds of ``clock``; thread-safe, and
    no sync waits for the list while the view it has is young enough (``listed``)."""

    def __init__(self, client: Client, clock: Callable[[], float], max_age: float = 1.0) -> None:
        super().__init__(clock, max_age)
        self.client = client
        self._ignored: set[str] = set()

    def _list(self) -> PolicyView:
        view = self._read()
        for delay in RETRY_DELAYS if view.error else ():
            time.sleep(delay)
            view = self._read()
            if not view.error:
                break
        return view

    def _read(self) -> PolicyView:
        try:
            raw = call_api(lambda: [dict(g) for g in self.client.list(GuardrailRes)])
        except ClusterError as err:
            if err.code != 404:  # 404: the Guardrail CRD is not installed: no guardrails
                return PolicyView(error=f"cannot list Guardrails: {err}")
            raw = []
        except Exception as err:  # the API server is unreachable
            return PolicyView(error=f"cannot list Guardrails: {err}")
        guardrails = tuple(g for g in (self._decode(doc) for doc in raw) if g is not None)
        try:  # always: the labels also say what Pod Security admission will enforce
            namespaces = call_api(lambda: list(self.client.list(Namespace)))
        except Exception as err:
            if not selects_namespaces(guardrails):
                return PolicyView(guardrails)  # only the Pod Security prediction is lost
            return PolicyView(error=f"cannot list Namespaces for guardrails: {err}")
        labels = {
            str(n.metadata.name): dict(n.metadata.labels or {}) for n in namespaces if n.metadata
        }
        return PolicyView(guardrails, labels)

    def _decode(self, doc: dict[str, Any]) -> Guardrail | None:
        """A Guardrail, or None for one the API server would reject as a binding.

        Such an object (say, Deny together with Warn) is left out and named once on
        stderr: one broken policy must not stop every delivery in the cluster.
        """
        try:
            return decode_guardrail(doc)
        except PolicyLoadError as err:
            if str(err) not in self._ignored:
                self._ignored.add(str(err))
                print(f"guardrail ignored: {err}", file=sys.stderr)
            return None
