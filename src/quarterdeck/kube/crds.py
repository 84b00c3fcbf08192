"""CustomResourceDefinition install: the one place CRDs are applied and awaited.

A CRD is usable only once the API server reports it ``Established``; creating a custom
object before that fails with 404, so every caller (``qd operator``, ``qd install``,
the queueing loop) applies and then waits here instead of racing the API server.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lightkube import ApiError, Client
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition
from lightkube.types import PatchType

from quarterdeck.kube.wait import wait_for

FIELD_MANAGER = "quarterdeck-crds"


class CRDInstallError(Exception):
    """A CRD was refused or did not become Established (one-line message)."""


def crd_names(manifests: Iterable[dict[str, Any]]) -> list[str]:
    """The object names (``plural.group``) of CRD manifests."""
    return [str(m["metadata"]["name"]) for m in manifests]


def _conditions(crd: dict[str, Any]) -> list[dict[str, Any]]:
    return list((crd.get("status") or {}).get("conditions") or [])


def is_established(crd: dict[str, Any]) -> bool:
    """Whether the API server serves the CRD's kind."""
    return any(
        c.get("type") == "Established" and c.get("status") == "True" for c in _conditions(crd)
    )


def refusal(crd: dict[str, Any]) -> str:
    """Why the API server refused the CRD's names (another CRD holds them); "" if it did not."""
    for cond in _conditions(crd):
        if cond.get("type") == "NamesAccepted" and cond.get("status") == "False":
            return str(cond.get("message") or cond.get("reason") or "names not accepted")
    return ""


def install_crds(
    client: Client,
    manifests: list[dict[str, Any]],
    timeout: float = 60.0,
    *,
    field_manager: str = FIELD_MANAGER,
) -> None:
    """Server-side apply every CRD, then wait until all of them are Established."""
    for manifest in manifests:
        name = manifest["metadata"]["name"]
        try:
            client.patch(
                CustomResourceDefinition,
                name,
                manifest,
                patch_type=PatchType.APPLY,
                field_manager=field_manager,
                force=True,
            )
        except ApiError as err:
            raise CRDInstallError(f"crd {name}: {err.status.message}") from None
    pending = crd_names(manifests)

    def probe() -> bool:
        for name in list(pending):
            live = client.get(CustomResourceDefinition, name).to_dict()
            if why := refusal(live):
                raise CRDInstallError(f"crd {name}: {why}")
            if is_established(live):
                pending.remove(name)
        return not pending

    try:
        wait_for(probe, "CRDs Established", timeout=timeout, interval=0.1)
    except TimeoutError:
        raise CRDInstallError(
            f"crds not Established after {timeout:.0f}s: {', '.join(pending)}"
        ) from None
