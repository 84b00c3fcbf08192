"""Webhook notifications for idle GPUs and budget alerts.

A POST of a small JSON document; failures are returned as a message (logged and put in
an Event by the caller), never raised into a controller pass. This is the seam where
`quarterdeck.notify` (delivery's notification package) takes over once it lands.
"""

from __future__ import annotations

from typing import Any

import httpx


def send(url: str, payload: dict[str, Any], timeout: float = 5.0) -> str:
    """POST `payload` to `url`; "" on success, else why it failed."""
    try:
        response = httpx.post(url, json=payload, timeout=timeout)
    except httpx.HTTPError as err:
        return f"webhook {url}: {err}"
    if response.status_code >= 300:
        return f"webhook {url}: HTTP {response.status_code}"
    return ""
