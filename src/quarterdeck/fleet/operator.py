"""The fleet controllers in the operator process: registrar, ClusterSets, GPU dispatch.

``prepare_fleet`` installs our CRDs (every replica, before campaigning); ``start_fleet``
runs both controllers while this process leads and makes the registrar the process's
``Destinations``, so delivery reaches registered clusters; its stop withdraws it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import structlog

if TYPE_CHECKING:
    from quarterdeck.fleet.remoteheal import RemoteHeal
    from quarterdeck.operator import Operator

log = structlog.get_logger("quarterdeck.fleet")


def operator_namespace(op: Operator) -> str:
    """Where kubeconfig Secrets are read: the watched namespace, else the Lease's."""
    return op.config.namespace or op.config.leader.namespace


def prepare_fleet(op: Operator) -> None:
    from quarterdeck.api import fleet as api
    from quarterdeck.api.crd import crd
    from quarterdeck.fleet import clusterset, registrar  # noqa: F401  (imported before leading)
    from quarterdeck.kube.crds import install_crds

    if op.config.install_crds:
        install_crds(op.connect("quarterdeck-fleet"), [crd(k) for k in api.KINDS], timeout=60)


def start_fleet(op: Operator) -> Callable[[float], None]:
    from quarterdeck.fleet.clusterset import ClusterSets
    from quarterdeck.fleet.destinations import SERVING
    from quarterdeck.fleet.dispatcher import Dispatcher
    from quarterdeck.fleet.registrar import FIELD_MANAGER, Registrar

    client = op.connect(FIELD_MANAGER)
    reg = Registrar(client, operator_namespace(op), op.informers)
    sets = ClusterSets(client, op.informers, namespace=op.config.namespace, tick=op.config.tick)
    jobs = Dispatcher(client, reg, op.informers, namespace=op.config.namespace, tick=op.config.tick)
    reg.listeners.append(lambda name: sets.wake_all())
    heal: RemoteHeal | None = None
    if op.config.delivery:  # Applications on a cluster that answers again: synced now
        from quarterdeck.delivery.resources import ApplicationRes
        from quarterdeck.fleet.remoteheal import RemoteHeal
        from quarterdeck.fleet.returning import Resync

        apps = op.informers.informer(ApplicationRes, namespace=op.config.namespace)
        reg.returned.append(Resync(client, apps, time.time))
        heal = RemoteHeal(client, reg, apps, time.time)
        reg.listeners.append(heal.changed)
    SERVING.serve(reg)
    threads = [
        op.supervisor.spawn("fleet-registry", reg.run),
        op.supervisor.spawn("fleet-clustersets", sets.run),
        op.supervisor.spawn("fleet-dispatch", jobs.run),
    ]

    def stop(grace: float) -> None:
        SERVING.withdraw(reg)
        if heal is not None:
            heal.stop()
        reg.stop.set()
        sets.stop.set()
        jobs.stop.set()
        for thread in threads:
            thread.join(grace)
            if thread.is_alive():
                log.warning(
                    "fleet controller still running at the end of the grace period",
                    thread=thread.name,
                )

    return stop
