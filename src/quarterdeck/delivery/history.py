"""Sync history in an Application's status: recording, counting, finding a rollback target.

Pure; time comes in as an argument.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from quarterdeck.api.delivery import HistoryEntry


class HistoryError(ValueError):
    """A revision asked for is not in the history (or is ambiguous)."""


def record(history: Sequence[HistoryEntry], entry: HistoryEntry, limit: int) -> list[HistoryEntry]:
    """History with ``entry`` first, at most ``limit`` entries.

    Every sync that changed something (created, configured or pruned an object) is an
    entry of its own, with its own time: a self-heal re-applying revision A is not the
    sync that first applied A. Only a repeat that changed nothing (a periodic resync,
    or the same failure again) is counted on the newest entry, whose ``time`` stays
    the first sync's and whose ``lastTime`` moves, so no-op resyncs cannot push real
    changes out of the history. A folded entry shows the hooks of its last repeat.
    """
    rest = list(history)
    changed = entry.created + entry.configured + entry.pruned
    if (
        rest
        and not changed
        and rest[0].revision == entry.revision
        and rest[0].result == entry.result
        and rest[0].message == entry.message
    ):
        first = rest.pop(0)
        entry = msgspec.structs.replace(
            first,
            attempts=first.attempts + entry.attempts,
            last_time=entry.time,
            hooks=entry.hooks,
        )
    return [entry, *rest][: max(limit, 1)]


def failed_attempts(history: Sequence[HistoryEntry], revision: str) -> int:
    """How many syncs of ``revision`` in a row have failed (0 if the newest succeeded)."""
    count = 0
    for entry in history:
        if entry.revision != revision or entry.result != "Failed":
            break
        count += entry.attempts
    return count


def find_revision(history: Sequence[HistoryEntry], revision: str) -> HistoryEntry:
    """The newest successful sync of a revision given by full SHA or a unique prefix."""
    if len(revision) < 7:
        raise HistoryError(f"revision {revision!r} is too short; give at least 7 characters")
    matches = [h for h in history if h.revision.startswith(revision) and h.result == "Succeeded"]
    shas = {h.revision for h in matches}
    if not shas:
        raise HistoryError(f"revision {revision!r} was never synced successfully")
    if len(shas) > 1:
        raise HistoryError(f"revision {revision!r} is ambiguous: {', '.join(sorted(shas))}")
    return matches[0]
