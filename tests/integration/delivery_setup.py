"""Shared setup for delivery integration tests: our CRDs, a Source on a real git
repository, Applications, and the examples/delivery fixtures committed into it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from lightkube import ApiError, Client

from gitrepo import Repo
from quarterdeck.kube import crds

ROOT = Path(__file__).parents[2]
CRDS = ROOT / "deploy" / "crds"
EXAMPLES = ROOT / "examples" / "delivery"


def install_crds(kube: Client) -> None:
    """Our CRDs, as the operator installs them: applied, Established, and listable (a
    kind is refused with 429 "storage is (re)initializing" for a moment after it is
    Established, and a controller that lists it then would see that, not the kind)."""
    crds.install_crds(kube, [yaml.safe_load(p.read_text()) for p in sorted(CRDS.glob("*.yaml"))])


def source(ns: str, url: str, name: str = "repo") -> dict[str, Any]:
    return {
        "apiVersion": "delivery.quarterdeck.dev/v1alpha1",
        "kind": "Source",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"url": url, "ref": {"branch": "main"}, "interval": "1m"},
    }


def application(ns: str, name: str, path: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "delivery.quarterdeck.dev/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"sourceRef": {"name": "repo"}, "path": path, "timeout": "60s", **spec},
    }


def ready(apps: dict[Any, Any], name: str) -> tuple[str, str]:
    (app,) = [a for o, a in apps.items() if o.name == name]
    cond = next(c for c in app.status.conditions if c.type == "Ready")
    return cond.status, cond.message


def example_files(name: str, under: str = "") -> dict[str, str]:
    """Every file of ``examples/delivery/NAME`` as {path in the repo: text}."""
    base = EXAMPLES / name
    return {
        f"{under or name}/{p.relative_to(base).as_posix()}": p.read_text()
        for p in sorted(base.rglob("*"))
        if p.is_file()
    }


def commit_example(repo: Repo, name: str, message: str = "example") -> str:
    return repo.commit(message, example_files(name))


def exists(kube: Client, kind: Any, namespace: str, name: str) -> bool:
    """Whether the API server has the object now (a wait condition for tests)."""
    try:
        kube.get(kind, name, namespace=namespace)
    except ApiError:
        return False
    return True
