"""An Application's audit trail as one timeline: commits applied and out-of-band edits.

Pure: the caller reads the Application's sync history, the commits' authors and
messages, the recorded trail and the live objects' current edits; `timeline` merges
them, newest last, within `since` seconds of `now`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from quarterdeck.audit.incident import epoch
from quarterdeck.audit.record import Edit, Entry, new_edits

_SPAN = re.compile(r"^(\d+)([smhdw])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_span(text: str) -> float:
    """`30d`, `12h`, `90m`, `2w` -> seconds; ValueError naming the forms otherwise."""
    match = _SPAN.match(text.strip())
    if match is None:
        raise ValueError(f"--since {text!r}: use a number and one of s, m, h, d, w (e.g. 30d)")
    return int(match.group(1)) * _UNIT[match.group(2)]


@dataclass(frozen=True)
class Commit:
    sha: str
    author: str
    message: str


@dataclass(frozen=True)
class Line:
    """One change in the timeline."""

    time: str
    change: str  # "commit" | "resync" | "out-of-band" | "incident"
    object: str  # what changed (an object, or the Application for commits and incidents)
    by: str  # commit author, field manager, or who declared the incident
    detail: str  # commit sha and message, fields edited, incident reason
    outcome: str  # applied / failed; reverted / kept / still live; the incident window

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _commit_line(entry: Mapping[str, Any], commits: Mapping[str, Commit], app: str,
                 change: str) -> Line:
    sha = str(entry.get("revision", ""))
    commit = commits.get(sha)
    first = commit.message.splitlines()[0] if commit and commit.message else ""
    counts = ", ".join(f"{entry.get(k, 0)} {k}" for k in ("created", "configured", "pruned"))
    result = str(entry.get("result", ""))
    outcome = f"applied: {counts}" if result == "Succeeded" else \
        f"failed: {entry.get('message', '')}"[:200]
    return Line(str(entry.get("time", "")), change, app, commit.author if commit else "",
                f"{sha[:12]} {first}".strip(), outcome)


def _entry_line(entry: Entry, app: str) -> Line:
    if entry.type == "incident":
        return Line(entry.time, "incident", app, entry.by, entry.reason,
                    f"self-heal paused until {entry.until}")
    return Line(entry.time, "out-of-band", entry.object, entry.manager,
                f"{entry.operation} {', '.join(entry.fields)}".strip(), entry.outcome)


def _sync_lines(app: str, history: Sequence[Mapping[str, Any]],
                commits: Mapping[str, Commit]) -> list[Line]:
    """A revision's first sync is its `commit`; a later sync of the same revision that
    changed live objects again (it took back an edit, or recreated a deleted object) is
    a `resync`, so each commit is listed once and every change is still on record."""
    seen: set[str] = set()
    lines = []
    # status.history is newest first and its times have one-second resolution: reversed
    # before the (stable) sort, two syncs within one second stay in the order they ran
    for entry in sorted(reversed(history), key=lambda h: str(h.get("time", ""))):
        sha = str(entry.get("revision", ""))
        lines.append(_commit_line(entry, commits, app, "resync" if sha in seen else "commit"))
        seen.add(sha)
    return lines


def timeline(app: str, history: Sequence[Mapping[str, Any]], commits: Mapping[str, Commit],
             recorded: Sequence[Entry], live: Sequence[Edit], since: float, now: float
             ) -> list[Line]:
    """Every change within the window, oldest first. Live edits not in the trail were
    never seen by self-heal (it is off, or they predate it): they are still live."""
    lines = _sync_lines(app, history, commits)
    lines += [_entry_line(e, app) for e in recorded]
    lines += [Line(e.time, "out-of-band", e.object, e.manager,
                   f"{e.operation} {', '.join(e.fields)}", "still live (not seen by self-heal)")
              for e in new_edits(live, recorded)]
    start = now - since
    kept = [line for line in lines if line.time and epoch(line.time) >= start]
    return sorted(kept, key=lambda line: line.time)
