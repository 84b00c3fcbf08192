"""lightkube resource classes for the kinds showback reads and writes."""

from __future__ import annotations

from lightkube.generic_resource import create_global_resource, create_namespaced_resource

from quarterdeck.api.showback import GROUP, VERSION

UsageRecordResource = create_global_resource(GROUP, VERSION, "UsageRecord", "usagerecords")
PricingResource = create_global_resource(GROUP, VERSION, "Pricing", "pricings")
BudgetResource = create_global_resource(GROUP, VERSION, "Budget", "budgets")
ObjectiveResource = create_global_resource(GROUP, VERSION, "QueueObjective", "queueobjectives")
IdlePolicyResource = create_namespaced_resource(GROUP, VERSION, "GpuIdlePolicy", "gpuidlepolicies")
WorkloadResource = create_namespaced_resource(
    "queueing.quarterdeck.dev", "v1alpha1", "Workload", "workloads"
)
ClusterQueueResource = create_global_resource(
    "queueing.quarterdeck.dev", "v1alpha1", "ClusterQueue", "clusterqueues"
)
