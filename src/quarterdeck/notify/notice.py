"""A Notice: one event worth telling people about, as plain data.

Pure. A Notice holds only names, an event type, a revision and a message made by
quarterdeck itself: never an object, so no Secret's data can ride along. Messages are
cut to one line and URL credentials are masked before they leave the process.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["info", "error"]
MAX_MESSAGE = 1000
_USERINFO = re.compile(r"(://)[^/@\s]+@")
#: Values after these words are masked: tokens, passwords and keys never leave us.
_SECRETISH = re.compile(r"(?i)\b(token|password|passwd|secret|api[_-]?key)(\s*[=:]\s*)\S+")


@dataclass(frozen=True)
class Notice:
    """An event of one object (an Application, a rollout, a budget)."""

    event: str  # one of quarterdeck.api.notify.EVENT_TYPES
    kind: str
    namespace: str
    name: str
    message: str
    severity: Severity = "info"
    revision: str = ""
    time: str = ""  # RFC 3339, from the caller's clock
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def subject(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else self.kind

    def key(self) -> tuple[str, str, str, str]:
        """What makes two notices "the same event" for de-duplication."""
        return (self.kind, self.namespace, self.name, self.event)


def clean(message: str) -> str:
    """One line, at most MAX_MESSAGE characters, URL credentials and token values masked."""
    line = " ".join(message.split())
    line = _USERINFO.sub(r"\1***@", line)
    line = _SECRETISH.sub(r"\1\2***", line)
    return line if len(line) <= MAX_MESSAGE else line[: MAX_MESSAGE - 1] + "…"


def notice(
    event: str,
    kind: str,
    namespace: str,
    name: str,
    message: str,
    *,
    severity: Severity = "info",
    revision: str = "",
    time: str = "",
    labels: Mapping[str, str] | None = None,
) -> Notice:
    """A Notice with its message cleaned (the one way to build one)."""
    return Notice(
        event,
        kind,
        namespace,
        name,
        clean(message),
        severity,
        revision,
        time,
        dict(labels or {}),
    )
