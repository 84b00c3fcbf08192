"""Applications on a cluster that comes back are synced again at once, Stalled ones too.

While a destination cluster does not answer, its Applications wait (``Unknown``) or,
when syncs failed against it before the registry noticed, count failed attempts with
backoff up to their interval, and may give up (``RetriesExhausted``). None of that was
their fault: when the registrar sees the cluster answer again, each Application aimed
at it that is not Ready is asked to sync now, with the same annotation ``qd sync``
writes, which re-queues it at once and lifts a Stalled one (as a recovered Source
does). Ready Applications are left alone: nothing is owed to them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import structlog
from lightkube import Client
from lightkube.types import PatchType

from quarterdeck.delivery.cluster import ClusterError, call_api
from quarterdeck.delivery.resources import REQUEST_ANNOTATION, ApplicationRes
from quarterdeck.kube.informer import Informer

log = structlog.get_logger("quarterdeck.fleet")
Obj = Mapping[str, Any]


def owed_a_sync(app: Obj, cluster: str) -> bool:
    """Whether the Application object ``app`` targets ``cluster`` and is not Ready."""
    spec = app.get("spec") or {}
    if (spec.get("destination") or {}).get("cluster") != cluster or spec.get("suspend"):
        return False
    conds = (app.get("status") or {}).get("conditions") or []
    return not any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


def request_value(now: float, cluster: str) -> str:
    """The annotation's value: new on every return, and saying why it was written."""
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"{stamp} cluster {cluster} reachable again"


class Resync:
    """``resync(cluster)``: ask every Application owed a sync on ``cluster`` to sync now."""

    def __init__(self, client: Client, apps: Informer, clock: Callable[[], float]) -> None:
        self.client = client
        self.apps = apps
        self.clock = clock

    def __call__(self, cluster: str) -> None:
        value = request_value(self.clock(), cluster)
        patch = {"metadata": {"annotations": {REQUEST_ANNOTATION: value}}}
        for app in self.apps.list():
            if not owed_a_sync(app, cluster):
                continue
            meta = app.get("metadata") or {}
            name, namespace = str(meta.get("name", "")), str(meta.get("namespace", ""))
            try:
                call_api(
                    lambda n=name, ns=namespace: self.client.patch(  # type: ignore[misc]
                        ApplicationRes, n, patch, namespace=ns, patch_type=PatchType.MERGE
                    )
                )
            except Exception as err:  # one failed write does not stop the others
                if not (isinstance(err, ClusterError) and err.code == 404):  # 404: deleted
                    log.warning("resync not requested", app=f"{namespace}/{name}", error=str(err))
                continue
            log.info("resync requested", app=f"{namespace}/{name}", cluster=cluster)
