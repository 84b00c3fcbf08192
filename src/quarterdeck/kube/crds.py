"""CustomResourceDefinition install: the one place CRDs are applied and awaited.

A CRD is usable only once the API server reports it ``Established``; creating a custom
object before that fails with 404, so every caller (``qd operator``, ``qd install``,
the queueing loop) applies and then waits here instead of racing the API server.

Established is not the end: the kind's watch cache starts after it, and until then a
list answers 429 "storage is (re)initializing" (with Retry-After). So the wait goes on
until a one-item list of every new kind answers, and whoever reads after an install
(`qd get`, an informer's first list) never sees that 429.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lightkube import ApiError, Client
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition
from lightkube.types import PatchType

from quarterdeck.kube.wait import wait_for
from quarterdeck.kube.watchstream import session_of

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


def list_path(crd: dict[str, Any]) -> str:
    """The collection URL of the CRD's kind, at its storage version (all namespaces)."""
    spec = crd["spec"]
    versions = spec.get("versions") or []
    version = next((v for v in versions if v.get("storage")), versions[0] if versions else {})
    return f"/apis/{spec['group']}/{version.get('name', '')}/{spec['names']['plural']}"


#: answers that mean "not listable yet": not served yet (404), storage initializing (429),
#: or unavailable for a moment (503); anything else (even 403) means the kind is served
NOT_YET = frozenset({404, 429, 503})


def is_listable(client: Client, crd: dict[str, Any]) -> bool:
    """Whether a list of the CRD's kind is answered (one item asked for)."""
    response = session_of(client).get(list_path(crd), params={"limit": 1})
    return response.status_code not in NOT_YET


def install_crds(
    client: Client,
    manifests: list[dict[str, Any]],
    timeout: float = 60.0,
    *,
    field_manager: str = FIELD_MANAGER,
) -> None:
    """Server-side apply every CRD, then wait until all of them are Established and
    their kinds can be listed."""
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
            if is_established(live) and is_listable(client, live):
                pending.remove(name)
        return not pending

    try:
        wait_for(probe, "CRDs Established and listable", timeout=timeout, interval=0.1)
    except TimeoutError:
        raise CRDInstallError(
            f"crds not Established and listable after {timeout:.0f}s: {', '.join(pending)}"
        ) from None
