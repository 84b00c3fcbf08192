"""quarterdeck: a Kubernetes platform control plane."""

__version__ = "0.1.0"
