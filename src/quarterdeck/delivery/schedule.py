"""When an Application is synced next. Pure; time comes in as an argument.

A successful Application is re-synced every ``spec.interval``. A failed one is
retried after ``spec.retry.interval``, doubling with each failure in a row (capped
at the larger of the two intervals), so a conflict or a denial costs a few
attempts a minute instead of one per controller tick, and reaches ``Stalled``
only after ``spec.retry.limit`` real retries. What changes the outcome (a new
revision, a new generation, `qd sync APP`, the Source coming back after a
failure) makes it due at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from quarterdeck.api.delivery import Application, SourceStatus
from quarterdeck.api.duration import parse_duration
from quarterdeck.api.meta import find_condition
from quarterdeck.audit.incident import paused_for
from quarterdeck.delivery.manifests import Obj


@dataclass
class AppMemory:
    """What the controller remembers about one Application between reconciles."""

    last_sync: float = 0.0
    generation: int = -1
    revision: str = ""  # last revision applied successfully
    attempted: str = ""  # last revision a sync was attempted for
    failures: int = 0  # failed syncs in a row
    requested: str = ""
    desired: list[Obj] = field(default_factory=list)
    wake: float = 0.0  # seconds after the last reconcile to look at it again
    written: str = ""  # resourceVersion of the last status we wrote
    why: str = ""  # why the last sync was due (``Due.why``), for benchmarks and logs


def retry_delay(retry_interval: float, interval: float, failures: int) -> float:
    """Seconds before retry number ``failures`` (1: the first retry)."""
    cap = max(retry_interval, interval)
    return float(min(cap, retry_interval * 2 ** min(max(failures - 1, 0), 30)))


def source_recovered(source: SourceStatus | None, app: Application) -> bool:
    """Whether the Source became Ready after the Application's last sync attempt.

    A sync that failed because git was unreachable is worth retrying at once when
    the Source fetches again, even if the Application had given up (Stalled).
    """
    ready = find_condition(source.conditions, "Ready") if source else None
    history = app.status.history if app.status else []
    if ready is None or ready.status != "True" or not history:
        return False
    return history[0].result == "Failed" and ready.last_transition_time > history[0].time


@dataclass(frozen=True)
class Due:
    """Whether to sync now and, when not, in how many seconds to look again."""

    now: bool
    after: float = 0.0
    # why it is due: first, revision, generation, asked, retry or interval (a routine
    # re-sync: nothing changed but time)
    why: str = ""


def due(
    memory: AppMemory,
    app: Application,
    revision: str,
    requested: str,
    recovered: bool,
    exhausted: bool,
    now: float,
    force: bool = False,
) -> Due:
    """Decide whether ``app`` syncs now (``revision`` is what it would apply)."""
    interval = parse_duration(app.spec.interval)
    asked = force or requested != memory.requested or recovered
    if exhausted:  # stalled at this revision and generation: waits to be asked again
        return Due(True, why="asked") if asked else Due(False, interval)
    if asked:
        return Due(True, why="asked")
    if not memory.attempted:
        return Due(True, why="first")
    if memory.generation != app.metadata.generation:
        return Due(True, why="generation")
    if memory.attempted != revision:
        return Due(True, why="revision")
    if held := paused_for(app.metadata.annotations, now):  # a break-glass incident (audit)
        return Due(False, min(held, interval))
    if memory.failures:
        wait = retry_delay(parse_duration(app.spec.retry.interval), interval, memory.failures)
    else:
        wait = interval
    left = memory.last_sync + wait - now
    if left > 0:
        return Due(False, left)
    return Due(True, why="retry" if memory.failures else "interval")
