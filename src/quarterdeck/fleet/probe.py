"""One contact with a registered cluster: its version and its nodes, or why it did not answer.

The shell side of ``registry.Probe``. Every failure becomes a (reason, message) pair
with the server named and nothing of the credentials: the typed errors of
``kube.errors`` say unreachable, TLS, unauthorized (an expired or revoked token reads
as that) or forbidden.
"""

from __future__ import annotations

from typing import Any

from lightkube import Client
from lightkube.resources.core_v1 import Node

from quarterdeck.fleet.registry import Probe
from quarterdeck.kube import errors


def _reason(err: BaseException) -> str:
    typed = errors.classify(err)
    if isinstance(typed, errors.Unauthorized):
        return "Unauthorized"
    if isinstance(typed, errors.Forbidden):
        return "Forbidden"
    if isinstance(typed, errors.TLSFailure):
        return "TLSFailure"
    if isinstance(typed, errors.Unreachable | errors.ServerTimeout):
        return "Unreachable"
    return "ProbeFailed"


def _message(err: BaseException) -> str:
    typed = errors.classify(err)
    text = str(typed) if typed is not None else f"{type(err).__name__}: {err}"
    return (text.splitlines() or [""])[0][:300]


def probe(client: Client) -> Probe:
    """The server's version and node list, or the reason it gave neither."""
    try:
        nodes: list[dict[str, Any]] = [
            n.to_dict() for n in client.list(Node)
        ]  # first: its errors are typed
        response = client._client._client.get("/version")  # lightkube has no discovery call
        response.raise_for_status()
        info: dict[str, Any] = response.json()
    except Exception as err:
        return Probe(error=(_reason(err), _message(err)))
    return Probe(version=str(info.get("gitVersion", "")), nodes=nodes)
