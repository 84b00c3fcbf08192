"""Installing the operator into a cluster: render deploy/ (kustomize), apply it, remove it."""
