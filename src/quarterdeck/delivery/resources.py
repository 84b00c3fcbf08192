"""Delivery's own kinds as API resources, and the reads of them the controller makes.

The shell's vocabulary: the Source and Application resources, the annotation that
asks for a sync now, reading one Application afresh and a Source's git credentials,
and one line for any error that came from talking to the API server.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from lightkube import Client
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.core_v1 import Secret

from quarterdeck.api import delivery as api
from quarterdeck.delivery.cluster import ClusterError, call_api
from quarterdeck.delivery.inventory import Owner
from quarterdeck.delivery.source import Credentials
from quarterdeck.kube.errors import classify

#: Set to any new value (`qd sync APP` writes the time) to sync an Application now.
REQUEST_ANNOTATION = "delivery.quarterdeck.dev/requested-at"
SourceRes = create_namespaced_resource(api.GROUP, api.VERSION, "Source", "sources")
ApplicationRes = create_namespaced_resource(api.GROUP, api.VERSION, "Application", "applications")


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def get_application(client: Client, owner: Owner) -> api.Application | None:
    """The Application as the API server has it now; None when it does not exist."""
    try:
        raw = call_api(lambda: client.get(ApplicationRes, owner.name, namespace=owner.namespace))
    except ClusterError as err:
        if err.code == 404:
            return None
        raise
    return api.decode_application(dict(raw))


def describe(err: BaseException) -> str:
    """One line for an error: the typed API error's message (server, cause, hint) when it
    came from talking to the API server (lightkube and httpx2 errors alike), else the
    exception's type and message."""
    typed = classify(err)
    text = str(typed) if typed is not None else f"{type(err).__name__}: {err}"
    return (text.splitlines() or [""])[0][:300]


def read_credentials(client: Client, namespace: str, ref: Any) -> Credentials | None:
    """Git credentials from a Source's secretRef (keys: username, token, identity,
    known_hosts); None without a secretRef."""
    if ref is None:
        return None
    secret = client.get(Secret, ref.name, namespace=ref.namespace or namespace)
    data = {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}
    return Credentials(
        username=data.get("username", "git"),
        token=data.get("token", ""),
        identity=data.get("identity", ""),
        known_hosts=data.get("known_hosts", ""),
    )
