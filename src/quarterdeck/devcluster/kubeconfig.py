"""The admin kubeconfig of a dev cluster, with certificates inlined so it can be copied."""

from __future__ import annotations

import base64
from typing import Any

from quarterdeck.devcluster.pki import ClusterPKI


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def kubeconfig(name: str, server: str, pki: ClusterPKI) -> dict[str, Any]:
    context = f"qd-{name}"
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": context,
                "cluster": {"server": server, "certificate-authority-data": _b64(pki.ca.cert_pem)},
            }
        ],
        "users": [
            {
                "name": f"{context}-admin",
                "user": {
                    "client-certificate-data": _b64(pki.admin.cert_pem),
                    "client-key-data": _b64(pki.admin.key_pem),
                },
            }
        ],
        "contexts": [
            {"name": context, "context": {"cluster": context, "user": f"{context}-admin"}}
        ],
        "current-context": context,
        "preferences": {},
    }
