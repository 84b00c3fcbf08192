"""The objects the dashboard shows, kept by the runtime's shared informers.

One LIST+WATCH per kind for the whole process; a page view reads the caches and never
lists the API server. Secrets are not watched at all, so no page can show their data.
"""

from __future__ import annotations

from lightkube.generic_resource import create_global_resource, create_namespaced_resource
from lightkube.resources.core_v1 import Node, Pod

from quarterdeck.delivery.resources import ApplicationRes, SourceRes
from quarterdeck.kube.informer import Informer, SharedInformers
from quarterdeck.showback.resources import BudgetResource, PricingResource, UsageRecordResource

QUEUEING = "queueing.quarterdeck.dev"
DELIVERY = "delivery.quarterdeck.dev"
SHOWBACK = "showback.quarterdeck.dev"
ClusterQueueRes = create_global_resource(QUEUEING, "v1alpha1", "ClusterQueue", "clusterqueues")
LocalQueueRes = create_namespaced_resource(QUEUEING, "v1alpha1", "LocalQueue", "localqueues")
WorkloadRes = create_namespaced_resource(QUEUEING, "v1alpha1", "Workload", "workloads")


class DashboardCache:
    """Informers for Applications, Sources, the queueing kinds, Nodes, Pods and
    showback's UsageRecords, Pricing and Budgets."""

    def __init__(self, informers: SharedInformers) -> None:
        self.informers = informers
        self.applications = informers.informer(ApplicationRes)
        self.sources = informers.informer(SourceRes)
        self.cluster_queues = informers.informer(ClusterQueueRes)
        self.local_queues = informers.informer(LocalQueueRes)
        self.workloads = informers.informer(WorkloadRes)
        self.nodes = informers.informer(Node)
        self.pods = informers.informer(Pod)
        self.usage_records = informers.informer(UsageRecordResource)
        self.pricings = informers.informer(PricingResource)
        self.budgets = informers.informer(BudgetResource)

    def by_kind(self) -> dict[str, Informer]:
        """Each informer by the plural of its kind (what live pages are told changed)."""
        return {
            "applications": self.applications, "sources": self.sources,
            "clusterqueues": self.cluster_queues, "localqueues": self.local_queues,
            "workloads": self.workloads, "nodes": self.nodes, "pods": self.pods,
            "usagerecords": self.usage_records, "pricings": self.pricings,
            "budgets": self.budgets,
        }

    def local_queue_targets(self) -> dict[tuple[str, str], str]:
        """(namespace, LocalQueue) -> its ClusterQueue."""
        out: dict[tuple[str, str], str] = {}
        for lq in self.local_queues.list():
            meta = lq.get("metadata") or {}
            target = (lq.get("spec") or {}).get("clusterQueue") or ""
            out[(str(meta.get("namespace", "")), str(meta.get("name", "")))] = target
        return out

    def namespaces_of(self, informer: Informer) -> list[str]:
        """The namespaces that hold at least one of the informer's objects."""
        found = {str((o.get("metadata") or {}).get("namespace", "")) for o in informer.list()}
        return sorted(found)

