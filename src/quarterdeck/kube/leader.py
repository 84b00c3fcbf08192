"""Leader election on a ``coordination.k8s.io/v1`` Lease, with client-go's algorithm.

Two replicas of the operator run; only the one holding the Lease reconciles. Each
replica tries every ``retry_period`` to take or renew the Lease:

- a Lease held by someone else is taken only once it has not changed for
  ``lease_duration`` *as measured by our own clock* (the time we last saw its record
  change), so clocks that disagree between machines do not matter;
- an empty ``holderIdentity`` (a leader that stepped down) is taken at once;
- writes are updates at the resourceVersion read, so two candidates never both win;
- the leader that cannot renew for ``renew_deadline`` stops leading (before anyone
  else may take the Lease, since ``renew_deadline < lease_duration``);
- ``release()`` (on SIGTERM) clears the holder, so the standby takes over at its next
  retry instead of waiting out the lease.

Which record to write is decided by the pure :func:`next_spec` and :func:`may_take`.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from lightkube import ApiError, Client
from lightkube.models.coordination_v1 import LeaseSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.coordination_v1 import Lease
from prometheus_client import Gauge

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
    if obs is None or not obs.holder or obs.holder == identity:
        return True
    return now >= obs.seen_at + lease_duration


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
        self._lock = threading.Lock()

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
        while not stop.is_set():
            if self._try():
                break
            stop.wait(self.retry_period * (1 + random.random() * JITTER))
        else:
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
        return lost

    def _renew_until_lost(self, stop: threading.Event) -> bool:
        last_renew = self.clock()
        while not stop.wait(self.retry_period):
            if self._try():
                last_renew = self.clock()
            elif self.clock() - last_renew >= self.renew_deadline:
                return True
        return False

    def _try(self) -> bool:
        """One attempt to take or renew the Lease; False (never raises) if not ours."""
        with self._lock:
            self.attempts += 1
            try:
                return self._try_locked()
            except Exception as err:  # unreachable server, conflict: not ours this time
                log.debug("lease attempt failed", lease=self.name, error=str(err))
                return False

    def _try_locked(self) -> bool:
        now = self.clock()
        try:
            lease: Any = self.client.get(Lease, self.name, namespace=self.namespace)
        except ApiError as err:
            if err.status.code != 404:
                raise
            spec = next_spec(None, self.identity, _micro_now(), self.lease_duration)
            self.client.create(
                Lease(metadata=ObjectMeta(name=self.name, namespace=self.namespace), spec=spec)
            )
            self._observe(spec, now)
            return True
        spec = lease.spec or LeaseSpec()
        self._observe(spec, now)
        if not may_take(self.observed, self.identity, now, self.lease_duration):
            return False
        lease.spec = next_spec(spec, self.identity, _micro_now(), self.lease_duration)
        self.client.replace(lease)  # carries the resourceVersion: a racing writer conflicts
        self._observe(lease.spec, now)
        return True

    def _observe(self, spec: LeaseSpec, now: float) -> None:
        holder = spec.holderIdentity or ""
        renew = spec.renewTime.isoformat() if spec.renewTime else ""
        obs = self.observed
        if obs is None or (obs.holder, obs.renew_time) != (holder, renew):
            self.observed = Observation(holder, renew, spec.leaseTransitions or 0, now)

    def release(self) -> bool:
        """Step down: clear the holder so a standby takes the Lease at its next retry."""
        with self._lock:
            try:
                lease: Any = self.client.get(Lease, self.name, namespace=self.namespace)
                if lease.spec is None or lease.spec.holderIdentity != self.identity:
                    return False
                now = _micro_now()
                lease.spec.holderIdentity = None
                lease.spec.leaseDurationSeconds = 1
                lease.spec.renewTime = now
                lease.spec.acquireTime = now
                self.client.replace(lease)
            except Exception as err:
                log.warning("lease not released", lease=self.name, error=str(err))
                return False
        log.info("lease released", lease=f"{self.namespace}/{self.name}", identity=self.identity)
        return True
