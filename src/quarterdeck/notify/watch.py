"""Application changes to notices: the informer handler that feeds the Notifier.

Runs on the informer's thread, so it only decides (``changes``, pure) and queues
(``Notifier.publish``, non-blocking). Objects replayed when the watch starts are
remembered, not announced: a restart of the operator sends nothing old again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec

from quarterdeck.api.delivery import ApplicationStatus, decode_application
from quarterdeck.notify.changes import changes
from quarterdeck.notify.notice import Notice


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ApplicationEvents:
    """Keeps the last status of each Application and publishes what changed."""

    def __init__(
        self, publish: Callable[[Notice], object], clock: Callable[[], float] = time.time
    ) -> None:
        self.publish = publish
        self.clock = clock
        self.last: dict[tuple[str, str], ApplicationStatus | None] = {}
        self.replaying = True  # set False once the informer has synced

    def handle(self, event_type: str, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
        if event_type == "DELETED":
            self.last.pop(key, None)
            return
        try:
            app = decode_application(obj)
        except msgspec.ValidationError:
            return  # an invalid Application is the controller's to report
        known = key in self.last
        old = self.last.get(key)
        self.last[key] = app.status
        if not known and self.replaying:
            return
        for item in changes(old, app, rfc3339(self.clock())):
            self.publish(item)
