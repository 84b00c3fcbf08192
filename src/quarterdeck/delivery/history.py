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

    A repeat of the newest entry's revision and result replaces it (keeping the
    counts of the first sync that did the work), so periodic no-op resyncs do not
    push real changes out of the history.
    """
    rest = list(history)
    if rest and rest[0].revision == entry.revision and rest[0].result == entry.result:
        first = rest.pop(0)
        entry = msgspec.structs.replace(
            entry,
            created=first.created + entry.created,
            configured=first.configured + entry.configured,
            pruned=first.pruned + entry.pruned,
            attempts=first.attempts + entry.attempts,
        )
    return [entry, *rest][: max(limit, 1)]


def failed_attempts(history: Sequence[HistoryEntry], revision: str) -> int:
    """How many syncs of ``revision`` in a row have failed (0 if the newest succeeded)."""
    if not history or history[0].revision != revision or history[0].result != "Failed":
        return 0
    return history[0].attempts


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
