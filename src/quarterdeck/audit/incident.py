"""Break-glass incidents: a window in which self-heal leaves an Application's objects alone.

`qd incident start APP --reason ... --for 1h` writes the annotation below on the
Application; self-heal (and the interval re-sync of an already applied revision)
honour it until its end time, after which it has no effect: it ends by itself.
Pure: the caller passes the clock.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

ANNOTATION = "audit.quarterdeck.dev/incident"


@dataclass(frozen=True)
class Incident:
    reason: str
    started: float  # epoch seconds
    until: float
    by: str = ""

    def to_annotation(self) -> str:
        return json.dumps({"reason": self.reason, "startedAt": rfc3339(self.started),
                           "until": rfc3339(self.until), "by": self.by}, sort_keys=True)


def rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def incident_of(annotations: Mapping[str, str] | None) -> Incident | None:
    """The incident recorded on an Application, if any (active or not); a malformed
    annotation counts as none, so it can never stop self-heal for good."""
    text = (annotations or {}).get(ANNOTATION)
    if not text:
        return None
    try:
        data = json.loads(text)
        return Incident(str(data["reason"]), epoch(data["startedAt"]), epoch(data["until"]),
                        str(data.get("by", "")))
    except (ValueError, KeyError, TypeError):
        return None


def paused_for(annotations: Mapping[str, str] | None, now: float) -> float:
    """Seconds self-heal stays paused for an incident (0: not paused)."""
    incident = incident_of(annotations)
    if incident is None or not incident.started <= now < incident.until:
        return 0.0
    return incident.until - now
