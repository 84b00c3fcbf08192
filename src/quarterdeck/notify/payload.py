"""The bytes and headers sent for a notice: pure, one shape per provider type.

``generic`` is a JSON document of the notice; ``generic-hmac`` adds
``X-Signature: sha256=<hex HMAC-SHA256 of the body keyed by the Secret's token>``
(the header Flux's generic-hmac provider sends), so a receiver can check who sent it;
``slack`` is an incoming-webhook message (``text`` plus an attachment with fields);
``msteams`` is a Teams incoming-webhook message carrying an Adaptive Card.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from quarterdeck.notify.notice import Notice

SIGNATURE_HEADER = "X-Signature"


def _title(item: Notice, summary: str) -> str:
    base = f"{item.subject}: {item.event}"
    return f"{summary}: {base}" if summary else base


def document(item: Notice, summary: str = "") -> dict[str, Any]:
    """The generic JSON document."""
    out: dict[str, Any] = {
        "event": item.event,
        "severity": item.severity,
        "involvedObject": {"kind": item.kind, "namespace": item.namespace, "name": item.name},
        "message": item.message,
        "timestamp": item.time,
        "reportingController": "quarterdeck",
    }
    if item.revision:
        out["revision"] = item.revision
    if summary:
        out["summary"] = summary
    return out


def _slack(item: Notice, summary: str) -> dict[str, Any]:
    fields = [{"title": "event", "value": item.event, "short": True}]
    if item.revision:
        fields.append({"title": "revision", "value": item.revision[:12], "short": True})
    return {
        "text": _title(item, summary),
        "attachments": [
            {
                "color": "danger" if item.severity == "error" else "good",
                "text": item.message,
                "fields": fields,
                "footer": "quarterdeck",
            }
        ],
    }


def _teams(item: Notice, summary: str) -> dict[str, Any]:
    facts = [{"title": "event", "value": item.event}]
    if item.revision:
        facts.append({"title": "revision", "value": item.revision[:12]})
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {"type": "TextBlock", "text": _title(item, summary), "weight": "Bolder", "wrap": True},
            {"type": "TextBlock", "text": item.message, "wrap": True},
            {"type": "FactSet", "facts": facts},
        ],
    }
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
        ],
    }


def signature(body: bytes, key: str) -> str:
    """``sha256=<hex>``: the HMAC-SHA256 of ``body`` keyed by ``key``."""
    return "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def render(
    kind: str, item: Notice, summary: str = "", key: str = ""
) -> tuple[bytes, dict[str, str]]:
    """Body and headers for a provider of type ``kind``; ValueError for generic-hmac
    without a key (an unsigned message must not pass for a signed one)."""
    shapes = {"slack": _slack, "msteams": _teams}
    doc = shapes[kind](item, summary) if kind in shapes else document(item, summary)
    body = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "quarterdeck-notify"}
    if kind == "generic-hmac":
        if not key:
            raise ValueError("generic-hmac provider has no 'token' in its Secret")
        headers[SIGNATURE_HEADER] = signature(body, key)
    return body, headers
