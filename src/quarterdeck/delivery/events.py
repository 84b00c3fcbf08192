"""Kubernetes Events on Applications, so `kubectl describe` and event exporters see syncs."""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime

from lightkube import Client
from lightkube.models.core_v1 import EventSource, ObjectReference
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Event

from quarterdeck.api import delivery as api

COMPONENT = "quarterdeck-delivery"


def record_event(
    client: Client, app: api.Application, type_: str, reason: str, message: str, now: float
) -> None:
    """Create an Event on ``app``; a failure to record it never fails the sync."""
    meta = app.metadata
    when = datetime.fromtimestamp(now, UTC)
    event = Event(
        metadata=ObjectMeta(name=f"{meta.name}.{uuid.uuid4().hex[:16]}", namespace=meta.namespace),
        involvedObject=ObjectReference(
            apiVersion=api.API_VERSION,
            kind="Application",
            name=meta.name,
            namespace=meta.namespace,
            uid=meta.uid or None,
        ),
        reason=reason,
        message=message[:1024],
        type=type_,
        count=1,
        firstTimestamp=when,
        lastTimestamp=when,
        source=EventSource(component=COMPONENT),
        reportingComponent=COMPONENT,
    )
    with contextlib.suppress(Exception):
        client.create(event)
