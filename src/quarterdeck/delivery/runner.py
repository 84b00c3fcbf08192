"""The delivery operator loop: periodic passes plus immediate self-heal re-syncs.

A pass (``Controller.reconcile_all``) runs every ``tick``; in between, edits that
``SelfHeal`` reports are handled at once by re-applying the last rendered set of
the owning Application (no git fetch), so a ``kubectl edit`` is reverted within
about the watch latency plus one small sync.
"""

from __future__ import annotations

import queue
import sys
import threading
import time

import msgspec

from quarterdeck.api import delivery as api
from quarterdeck.delivery.controller import ApplicationRes, Controller, describe, rfc3339
from quarterdeck.delivery.inventory import Owner
from quarterdeck.delivery.metrics import DRIFT_OBJECTS, OBJECTS_APPLIED, RECONCILE_SECONDS
from quarterdeck.delivery.selfheal import SelfHeal
from quarterdeck.delivery.status import Outcome, application_status, entries
from quarterdeck.delivery.sync import SyncOptions, sync


class Runner:
    """Runs a Controller until stopped, with self-heal."""

    def __init__(self, controller: Controller, tick: float = 1.0) -> None:
        self.controller = controller
        self.tick = tick
        self.stop = threading.Event()
        self.edits: queue.Queue[Owner] = queue.Queue()
        self.selfheal = SelfHeal(controller.cluster, self.edits.put)
        controller.on_synced = lambda owner, objs: self.selfheal.watch(objs)
        self.healed: list[tuple[Owner, float]] = []  # (owner, monotonic time) for benchmarks
        self.failures = 0  # consecutive failed passes, for backoff
        self.passes = 0  # passes run (failed or not) and self-heals attempted, for tests
        self.heal_attempts = 0

    def run(self) -> None:
        """Loop until ``stop`` is set."""
        next_pass = 0.0
        while not self.stop.is_set():
            now = time.monotonic()
            if now >= next_pass:
                next_pass = time.monotonic() + self._pass()
            try:
                owner = self.edits.get(timeout=max(0.0, next_pass - time.monotonic()))
            except queue.Empty:
                continue
            pending = {owner}
            while not self.edits.empty():  # a burst of edits heals once per application
                pending.add(self.edits.get_nowait())
            for item in sorted(pending):
                with RECONCILE_SECONDS.labels("selfheal").time():
                    self._heal_guarded(item)
        self.selfheal.stop.set()
        self.controller.cache.stop.set()

    def _pass(self) -> float:
        """One reconcile pass; returns the seconds until the next one.

        A failed pass (an API server answering 429/503 while it re-initializes storage
        right after our CRDs were installed, a dropped connection) is reported and
        retried soon with backoff instead of ending the operator.
        """
        self.passes += 1
        try:
            with RECONCILE_SECONDS.labels("pass").time():
                self.controller.reconcile_all()
        except Exception as err:  # one bad pass must not stop every Application
            self.failures += 1
            delay = min(self.tick, 0.2 * float(2 ** min(self.failures, 5)))
            print(
                f"delivery pass failed ({type(err).__name__}: {err}); retrying in {delay:.1f}s",
                file=sys.stderr,
                flush=True,
            )
            return delay
        self.failures = 0
        return self.tick

    def _heal_guarded(self, owner: Owner) -> None:
        """``heal``, reporting instead of raising: the Application may be gone, its
        namespace terminating, the API server paused; the next pass sees to it."""
        self.heal_attempts += 1
        try:
            self.heal(owner)
        except Exception as err:
            self.controller.log(f"self-heal {owner} failed: {describe(err)}")

    def heal(self, owner: Owner) -> None:
        """Re-apply the last rendered set of ``owner`` if it asks for self-heal."""
        memory = self.controller.apps.get(owner)
        if memory is None or not memory.desired:
            return
        raw = self.controller.client.get(ApplicationRes, owner.name, namespace=owner.namespace)
        app = api.decode_application(dict(raw))
        if not app.spec.self_heal or app.spec.suspend or app.status is None:
            return
        if app.status.last_attempted_revision != app.status.last_applied_revision:
            return  # a newer revision is being applied (or failed): do not revert it
        inventory = entries(app.status.inventory)
        opts = SyncOptions(
            namespace=app.spec.render.target_namespace or owner.namespace, prune=False, wait=False
        )
        # reads bypass the cache: it may not have seen the edit that woke us yet
        result = sync(self.controller.direct, memory.desired, inventory, owner, opts)
        self.healed.append((owner, time.monotonic()))
        if not result.drift and result.ok:
            return
        OBJECTS_APPLIED.labels(str(owner)).inc(len(result.created) + len(result.configured))
        DRIFT_OBJECTS.labels(str(owner)).set(len(result.drift))
        outcome = Outcome(
            revision=app.status.last_applied_revision,
            errors=result.errors,
            created=len(result.created),
            configured=len(result.configured),
            unchanged=len(result.unchanged),
            inventory=inventory,
            versions={e.key: e.api_version for e in inventory},
            health={r_key: h for r_key, h in result.health.items()},
            drift=result.drift,
        )
        status = application_status(app, outcome, rfc3339(self.controller.clock()))
        if not result.health:  # no wait on a heal: keep the health last observed
            status = msgspec.structs.replace(status, resources=app.status.resources)
        self.controller.write_status(ApplicationRes, owner, status)
