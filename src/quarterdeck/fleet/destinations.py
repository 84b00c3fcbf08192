"""The seam between delivery and the fleet: an Application's ``destination.cluster`` to a Cluster.

Delivery asks ``destination(name)`` for every Application aimed at another cluster and
gets either delivery's ``Cluster`` for it (one client and one live cache per registered
cluster, kept by the registry) or the reason it cannot be used right now: not
registered (yet: a Cluster API cluster still provisioning) or not answering. Either way
the Application waits with that reason and no other cluster waits for it.

One registry serves a process at a time, while it leads; ``SERVING`` is the slot the
delivery controller reads, so neither package constructs the other.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol

from quarterdeck.delivery.cluster import Cluster

NOT_REGISTERED = "ClusterNotRegistered"
UNREACHABLE = "ClusterUnreachable"


@dataclass(frozen=True)
class Destination:
    """A usable cluster, or (``cluster`` None) why not: a condition reason and message."""

    cluster: Cluster | None
    reason: str = ""
    message: str = ""


class Destinations(Protocol):
    def destination(self, name: str) -> Destination: ...


class Slot:
    """The process's current provider; without one no remote cluster is served."""

    def __init__(self) -> None:
        self._provider: Destinations | None = None
        self._lock = threading.Lock()

    def serve(self, provider: Destinations) -> None:
        with self._lock:
            self._provider = provider

    def withdraw(self, provider: Destinations) -> None:
        with self._lock:
            if self._provider is provider:
                self._provider = None

    def destination(self, name: str) -> Destination:
        with self._lock:
            provider = self._provider
        if provider is None:
            return Destination(
                None,
                NOT_REGISTERED,
                f"destination cluster {name!r} is not registered: no fleet registry runs "
                "in this operator; nothing was applied",
            )
        return provider.destination(name)


SERVING = Slot()
