"""Kubernetes Events on Applications, so `kubectl describe` and event exporters see syncs.

A repeat of the same Event (same Application, type, reason and message) raises the
count of the one Event instead of creating another, as client-go's recorder does:
a Guardrail denial retried for an hour is one Event with a count, not a hundred.
"""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime
from typing import Any

from lightkube import ApiError, Client
from lightkube.models.core_v1 import EventSource, ObjectReference
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Event
from lightkube.types import PatchType

from quarterdeck.api import delivery as api

COMPONENT = "quarterdeck-delivery"


def event_name(app: api.Application, type_: str, reason: str, message: str) -> str:
    """A name that is the same for every repeat of one Event on one Application."""
    meta = app.metadata
    digest = hashlib.sha256(f"{meta.uid}\0{type_}\0{reason}\0{message}".encode()).hexdigest()
    return f"{meta.name[:200]}.{digest[:16]}"


class EventLog:
    """Records Events on Applications, aggregating repeats; never fails the caller."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self._counts: dict[tuple[str, str], int] = {}  # (namespace, name) -> count sent
        self._lock = threading.Lock()

    def record(
        self, app: api.Application, type_: str, reason: str, message: str, now: float
    ) -> None:
        """Create the Event, or count one more of it."""
        message = message[:1024]
        meta = app.metadata
        name = event_name(app, type_, reason, message)
        when = datetime.fromtimestamp(now, UTC)
        with self._lock:
            count = self._counts.get((meta.namespace, name), 0)
        try:
            if count == 0:
                count = self._create_or_count(app, name, type_, reason, message, when)
            else:
                count += 1
                self._patch(meta.namespace, name, count, when)
        except Exception:  # an Event is a report: losing one must not fail the sync
            return
        with self._lock:
            self._counts[(meta.namespace, name)] = count

    def _create_or_count(
        self, app: api.Application, name: str, type_: str, reason: str, message: str, when: Any
    ) -> int:
        meta = app.metadata
        event = Event(
            metadata=ObjectMeta(name=name, namespace=meta.namespace),
            involvedObject=ObjectReference(
                apiVersion=api.API_VERSION,
                kind="Application",
                name=meta.name,
                namespace=meta.namespace,
                uid=meta.uid or None,
            ),
            reason=reason,
            message=message,
            type=type_,
            count=1,
            firstTimestamp=when,
            lastTimestamp=when,
            source=EventSource(component=COMPONENT),
            reportingComponent=COMPONENT,
        )
        try:
            self.client.create(event)
            return 1
        except ApiError as err:
            if err.status.code != 409:
                raise
        # recorded by an earlier process: continue its count
        current = self.client.get(Event, name, namespace=meta.namespace)
        count = (current.count or 1) + 1
        self._patch(meta.namespace, name, count, when)
        return count

    def _patch(self, namespace: str, name: str, count: int, when: datetime) -> None:
        stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        self.client.patch(
            Event,
            name,
            {"count": count, "lastTimestamp": stamp},
            namespace=namespace,
            patch_type=PatchType.MERGE,
        )
