"""Leader election on a ``coordination.k8s.io/v1`` Lease, with client-go's algorithm.

Two replicas of the operator run; only the one holding the Lease reconciles. The leader
renews every ``retry_period``; a standby watches the Lease (one object, by field
selector) instead of polling it, so it sees each renewal as it happens:

- a Lease held by someone else is taken only once it has not changed for
  ``lease_duration`` *as measured by our own clock* (the time we last saw its record
  change), so clocks that disagree between machines do not matter. The standby
  attempts at that very moment (a timer at expiry, re-armed by every change the watch
  brings), not at its next retry tick: a failover costs the lease duration, no more;
- an empty ``holderIdentity`` (a leader that stepped down) is taken at once;
- writes are updates at the resourceVersion read, so two candidates never both win;
- the leader that cannot renew for ``renew_deadline`` stops leading (before anyone
  else may take the Lease, since ``renew_deadline < lease_duration``). Each request
  has its own timeout, the time left to that deadline (client-go's renew context),
  never the client's general one, so a hung API server cannot keep a leader past it;
- a watch that lags or breaks only delays a takeover: the attempt reads the Lease
  first, and a change it finds restarts the wait;
- ``release()`` (on SIGTERM) clears the holder, so the standby takes over at its next
  retry instead of waiting out the lease.

Which record to write, and when, is decided by the pure :func:`next_spec`,
:func:`may_take` and :func:`wait_before_taking`.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx2
import structlog
from lightkube import ApiError, Client
from lightkube.models.coordination_v1 import LeaseSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.coordination_v1 import Lease
from prometheus_client import Gauge

from quarterdeck.kube.informer import Informer

log = structlog.get_logger("quarterdeck.leader")

IS_LEADER = Gauge("quarterdeck_leader_is_leader", "1 while this process holds the lease", ["lease"])

JITTER = 1.2  # client-go's JitterFactor: retries spread over [retry, retry * 2.2)


@dataclass(frozen=True)
class Observation:
    """The Lease's record as last read, and when (our monotonic clock) it last changed."""

    holder: str
    renew_time: str
    transitions: int
    seen_at: float


def may_take(obs: Observation | None, identity: str, now: float, lease_duration: float) -> bool:
    """Whether ``identity`` may write the Lease now: it is ours, free, or expired."""
    return wait_before_taking(obs, identity, now, lease_duration) == 0.0


def wait_before_taking(
    obs: Observation | None, identity: str, now: float, lease_duration: float
) -> float:
    """Seconds until ``identity`` may write the Lease: 0 if ours, free or expired, else
    the time left until it has stood still for ``lease_duration`` on our clock."""
    if obs is None or not obs.holder or obs.holder == identity:
        return 0.0
    return max(0.0, obs.seen_at + lease_duration - now)


def stamp(value: datetime | str | None) -> str:
    """A MicroTime as one comparable string, whether read as a model or from a watch."""
    if value is None or value == "":
        return ""
    when = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return when.astimezone(UTC).isoformat()


def next_spec(
    current: LeaseSpec | None, identity: str, wall_now: datetime, lease_duration: float
) -> LeaseSpec:
    """The record to write: renewed if ours, else taken (acquireTime now, transitions + 1)."""
    ours = current is not None and current.holderIdentity == identity
    transitions = (current.leaseTransitions or 0) if current is not None else 0
    return LeaseSpec(
        holderIdentity=identity,
        leaseDurationSeconds=max(1, round(lease_duration)),
        acquireTime=current.acquireTime if ours and current is not None else wall_now,
        renewTime=wall_now,
        leaseTransitions=transitions if ours or current is None else transitions + 1,
    )


def _micro_now() -> datetime:
    return datetime.now(UTC)


class LeaderElector:
    """Campaigns for the Lease ``namespace/name`` as ``identity``."""

    def __init__(
        self,
        client: Client,
        namespace: str,
        name: str,
        identity: str,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not lease_duration > renew_deadline > JITTER * retry_period:
            raise ValueError(
                "need lease duration > renew deadline > 1.2 x retry period "
                f"(got {lease_duration}, {renew_deadline}, {retry_period})"
            )
        self.client = client
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.clock = clock
        self.observed: Observation | None = None
        self.attempts = 0
        self.acquired_at = 0.0  # our clock when we last took (not renewed) the Lease
        self._leading = threading.Event()
        self._lock = threading.Lock()  # one attempt at a time
        self._seen = threading.Lock()  # guards ``observed`` (the watch writes it too)
        self._wake = threading.Event()  # the Lease changed, or stop was set
        self._watch: Informer | None = None
        self._relayed: set[int] = set()

    @property
    def is_leader(self) -> bool:
        return self._leading.is_set()

    def run(
        self,
        on_started: Callable[[], None],
        on_stopped: Callable[[], None],
        stop: threading.Event,
    ) -> bool:
        """Wait for the Lease, lead while it is renewed, then return.

        ``on_started`` is called (in its own thread) once the Lease is ours; ``on_stopped``
        when leading ends, by a failed renewal or by ``stop`` (the Lease is then released).
        Returns True if leadership was lost while not stopped (the caller decides whether to
        campaign again or exit), False if ``stop`` ended it.
        """
        self._watch_lease(stop)
        if not self._acquire(stop):
            self._end_watch()
            return False
        self.acquired_at = self.clock()
        self._leading.set()
        IS_LEADER.labels(self.name).set(1)
        log.info("became leader", lease=f"{self.namespace}/{self.name}", identity=self.identity)
        threading.Thread(target=on_started, name="leader-started", daemon=True).start()
        lost = self._renew_until_lost(stop)
        self._leading.clear()
        IS_LEADER.labels(self.name).set(0)
        if lost:
            log.warning(
                "leadership lost", lease=f"{self.namespace}/{self.name}", identity=self.identity
            )
        on_stopped()
        if not lost:
            self.release()
            self._end_watch()
        return lost

    def _acquire(self, stop: threading.Event) -> bool:
        """Take the Lease as soon as it may be taken; False once ``stop`` is set."""
        while not stop.is_set():
            self._wake.clear()  # before deciding: a change from now on wakes the wait
            with self._seen:
                delay = wait_before_taking(
                    self.observed, self.identity, self.clock(), self.lease_duration
                )
            if delay == 0.0:
                if self._try(self.renew_deadline):
                    return True
                # a conflict or an error: the watch brings the change, else retry later
                delay = self.retry_period * (1 + random.random() * JITTER)
            self._wake.wait(delay)
        return False

    def _renew_until_lost(self, stop: threading.Event) -> bool:
        last_renew = self.clock()
        while not stop.wait(self.retry_period):
            left = last_renew + self.renew_deadline - self.clock()
            if left > 0 and self._try(left):
                last_renew = self.clock()
            elif self.clock() - last_renew >= self.renew_deadline:
                return True
        return False

    # --- watching the Lease --------------------------------------------------------------

    def _watch_lease(self, stop: threading.Event) -> None:
        """Start (once) a watch on our Lease, and let ``stop`` wake the campaign."""
        if id(stop) not in self._relayed:
            self._relayed.add(id(stop))

            def relay() -> None:
                stop.wait()
                self._wake.set()

            threading.Thread(target=relay, name="lease-stop", daemon=True).start()
        if self._watch is not None:
            return
        watch = Informer(
            self.client,
            Lease,
            self.namespace,
            watch_timeout=(60, 120),
            field_selector=f"metadata.name={self.name}",
        )
        watch.add_handler(self._on_lease)
        self._watch = watch
        threading.Thread(target=watch.run, args=(stop,), name="lease-watch", daemon=True).start()

    def _end_watch(self) -> None:
        watch, self._watch = self._watch, None
        if watch is not None:
            watch.interrupt()

    def _on_lease(self, event_type: str, obj: dict[str, Any]) -> None:
        """A change seen by the watch counts from the moment we see it (our clock)."""
        spec = {} if event_type == "DELETED" else (obj.get("spec") or {})
        changed = self._observe_record(
            str(spec.get("holderIdentity") or ""),
            stamp(spec.get("renewTime")),
            int(spec.get("leaseTransitions") or 0),
            self.clock(),
        )
        if changed or event_type == "DELETED":
            self._wake.set()

    # --- one attempt ---------------------------------------------------------------------

    def _try(self, timeout: float) -> bool:
        """One attempt to take or renew the Lease, each request bounded by ``timeout``;
        False (never raises) if not ours."""
        with self._lock:
            self.attempts += 1
            try:
                return self._try_locked(max(0.05, timeout))
            except Exception as err:  # unreachable server, conflict: not ours this time
                log.debug("lease attempt failed", lease=self.name, error=str(err))
                return False

    def _request(self, method: str, timeout: float, **kwargs: Any) -> Any:
        """A lightkube request on our client's connection, with its own timeout."""
        generic: Any = self.client._client
        request = generic.prepare_request(method, Lease, namespace=self.namespace, **kwargs)
        request.timeout = httpx2.Timeout(timeout)
        response = generic.send(generic.build_adapter_request(request))
        return generic.handle_response(method, response, request)

    def _try_locked(self, timeout: float) -> bool:
        now = self.clock()
        try:
            lease: Any = self._request("get", timeout, name=self.name)
        except ApiError as err:
            if err.status.code != 404:
                raise
            spec = next_spec(None, self.identity, _micro_now(), self.lease_duration)
            new = Lease(metadata=ObjectMeta(name=self.name, namespace=self.namespace), spec=spec)
            self._request("post", timeout, obj=new)
            self._observe(spec, now)
            return True
        spec = lease.spec or LeaseSpec()
        self._observe(spec, now)
        with self._seen:
            if not may_take(self.observed, self.identity, now, self.lease_duration):
                return False
        lease.spec = next_spec(spec, self.identity, _micro_now(), self.lease_duration)
        # carries the resourceVersion read: a racing writer conflicts
        self._request("put", timeout, obj=lease, name=self.name)
        self._observe(lease.spec, now)
        return True

    def _observe(self, spec: LeaseSpec, now: float) -> None:
        self._observe_record(
            spec.holderIdentity or "", stamp(spec.renewTime), spec.leaseTransitions or 0, now
        )

    def _observe_record(self, holder: str, renew: str, transitions: int, now: float) -> bool:
        """Record the Lease as seen at ``now``; True if it differs from what we knew."""
        with self._seen:
            obs = self.observed
            if obs is not None and (obs.holder, obs.renew_time) == (holder, renew):
                return False
            self.observed = Observation(holder, renew, transitions, now)
            return True

    def release(self) -> bool:
        """Step down: clear the holder so a standby takes the Lease at once."""
        with self._lock:
            try:
                lease: Any = self._request("get", self.renew_deadline, name=self.name)
                if lease.spec is None or lease.spec.holderIdentity != self.identity:
                    return False
                now = _micro_now()
                lease.spec.holderIdentity = None
                lease.spec.leaseDurationSeconds = 1
                lease.spec.renewTime = now
                lease.spec.acquireTime = now
                self._request("put", self.renew_deadline, obj=lease, name=self.name)
            except Exception as err:
                log.warning("lease not released", lease=self.name, error=str(err))
                return False
        log.info("lease released", lease=f"{self.namespace}/{self.name}", identity=self.identity)
        return True
