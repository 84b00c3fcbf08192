"""Fleet: many clusters as delivery targets (registry, ClusterSets, remote GPU dispatch)."""
