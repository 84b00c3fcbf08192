"""Kubernetes Events that aggregate repeats, as client-go's recorder does.

A controller that retries a failing object says the same thing again and again; one
Event per attempt buries everything else in ``kubectl describe`` and costs a create per
retry. So, as client-go's EventCorrelator does, the recorder remembers what it wrote:
the same regarding object + type + reason + message patches the existing Event
(``count`` + 1, ``lastTimestamp`` now) instead of creating another; and each object
gets a token bucket (burst 25, then one every 5 minutes) past which Events are dropped,
so a hot loop cannot flood the API server. What to do is decided by
:class:`Correlator` (no client, time as an argument); :class:`EventRecorder` writes it.
Recording never raises: a lost Event must not fail a reconcile.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from lightkube import ApiError, Client
from lightkube.models.core_v1 import EventSource, ObjectReference
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Event
from lightkube.types import PatchType

from quarterdeck.kube.ratelimit import TokenBucket

log = structlog.get_logger("quarterdeck.events")

MAX_MESSAGE = 1024
CACHE_SIZE = 4096  # remembered Events (client-go's maxLruCacheEntries)
SPAM_BURST = 25
SPAM_QPS = 1.0 / 300.0
OBJECT_LOCKS = 64  # stripes of the per-object write order

#: (apiVersion, kind, namespace, name, uid) of the object an Event is about.
ObjectRef = tuple[str, str, str, str, str]


def reference(regarding: Mapping[str, Any]) -> ObjectRef:
    meta = regarding.get("metadata") or {}
    return (
        str(regarding.get("apiVersion") or ""),
        str(regarding.get("kind") or ""),
        str(meta.get("namespace") or ""),
        str(meta.get("name") or ""),
        str(meta.get("uid") or ""),
    )


@dataclass(frozen=True)
class Decision:
    """Create a new Event named ``name``, or patch it to ``count``; or drop (``skip``)."""

    name: str
    count: int
    skip: bool = False

    @property
    def create(self) -> bool:
        return self.count == 1 and not self.skip


@dataclass
class _Seen:
    name: str
    count: int


class Correlator:
    """Remembers the Events written so far; decides create, patch or drop for the next."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._seen: OrderedDict[tuple[Any, ...], _Seen] = OrderedDict()
        self._buckets: OrderedDict[ObjectRef, TokenBucket] = OrderedDict()
        self._serial = 0

    def decide(self, ref: ObjectRef, type_: str, reason: str, message: str) -> Decision:
        bucket = self._buckets.pop(ref, None) or TokenBucket(SPAM_QPS, SPAM_BURST, self.clock)
        self._buckets[ref] = bucket
        if len(self._buckets) > CACHE_SIZE:
            self._buckets.popitem(last=False)
        key = (ref, type_, reason, message)
        if not bucket.take():
            return Decision(self._seen[key].name if key in self._seen else "", 0, skip=True)
        seen = self._seen.pop(key, None)
        if seen is None:
            self._serial += 1
            # unique per process and time, like client-go's name.<unix nanos in hex>
            stamp = int(self.clock() * 1e9) + self._serial
            seen = _Seen(f"{ref[3]}.{stamp:x}", 0)
        seen.count += 1
        self._seen[key] = seen
        if len(self._seen) > CACHE_SIZE:
            self._seen.popitem(last=False)
        return Decision(seen.name, seen.count)

    def restart(self, ref: ObjectRef, type_: str, reason: str, message: str) -> Decision:
        """The Event to patch is gone (Events expire after an hour): start a new one."""
        self._seen.pop((ref, type_, reason, message), None)
        self._serial += 1
        name = f"{ref[3]}.{int(self.clock() * 1e9) + self._serial:x}"
        self._seen[(ref, type_, reason, message)] = _Seen(name, 1)
        return Decision(name, 1)


def _timestamp(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class EventRecorder:
    """Writes core/v1 Events for ``component``, aggregated and rate-limited per object."""

    def __init__(
        self,
        client: Client,
        component: str,
        clock: Callable[[], float] = time.time,
        host: str = "",
    ) -> None:
        self.client = client
        self.component = component
        self.host = host
        self.clock = clock
        self.correlator = Correlator(clock)
        self._lock = threading.Lock()  # the correlator's memory; never held across a write
        # One object's Events are decided and written one at a time, so their counts stay
        # in order; other objects' go on meanwhile (one lock for all made every sync of a
        # controller wait for the Event write of the one before it). Striped: bounded.
        self._objects = [threading.Lock() for _ in range(OBJECT_LOCKS)]

    def event(self, regarding: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
        """Record that ``reason: message`` happened to ``regarding`` (an object as a dict)."""
        ref = reference(regarding)
        message = message[:MAX_MESSAGE]
        with self._objects[hash(ref) % OBJECT_LOCKS]:
            with self._lock:
                decision = self.correlator.decide(ref, type_, reason, message)
            if decision.skip:
                log.debug("event dropped by the rate limit", object=ref[3], reason=reason)
                return
            try:
                self._write(ref, type_, reason, message, decision)
            except ApiError as err:
                if err.status.code != 404 or decision.create:
                    log.warning("event not recorded", object=ref[3], reason=reason, error=str(err))
                    return
                with self._lock:
                    again = self.correlator.restart(ref, type_, reason, message)
                self._write_quietly(ref, type_, reason, message, again)
            except Exception as err:  # unreachable server: the Event is lost, not the work
                log.warning("event not recorded", object=ref[3], reason=reason, error=str(err))

    def _write_quietly(
        self, ref: ObjectRef, type_: str, reason: str, message: str, decision: Decision
    ) -> None:
        try:
            self._write(ref, type_, reason, message, decision)
        except Exception as err:
            log.warning("event not recorded", object=ref[3], reason=reason, error=str(err))

    def _write(
        self, ref: ObjectRef, type_: str, reason: str, message: str, decision: Decision
    ) -> None:
        now = self.clock()
        namespace = ref[2] or "default"  # Events on cluster-scoped objects live in default
        if not decision.create:
            self.client.patch(
                Event,
                decision.name,
                {"count": decision.count, "lastTimestamp": _timestamp(now)},
                namespace=namespace,
                patch_type=PatchType.MERGE,
            )
            return
        when = datetime.fromtimestamp(now, UTC).replace(microsecond=0)
        api_version, kind, obj_namespace, name, uid = ref
        self.client.create(
            Event(
                metadata=ObjectMeta(name=decision.name, namespace=namespace),
                involvedObject=ObjectReference(
                    apiVersion=api_version or None,
                    kind=kind or None,
                    name=name,
                    namespace=obj_namespace or None,
                    uid=uid or None,
                ),
                reason=reason,
                message=message,
                type=type_,
                count=1,
                firstTimestamp=when,
                lastTimestamp=when,
                source=EventSource(component=self.component, host=self.host or None),
                reportingComponent=self.component,
                reportingInstance=self.host or None,
            )
        )
