"""When Applications are synced and retried, and what status says while a sync runs (pure)."""

from __future__ import annotations

import dataclasses
from typing import Any

from msgspec.structs import replace

from quarterdeck.api import delivery as api
from quarterdeck.api.meta import find_condition
from quarterdeck.delivery.inventory import Entry
from quarterdeck.delivery.manifests import Key
from quarterdeck.delivery.schedule import AppMemory, due, retry_delay, source_recovered
from quarterdeck.delivery.status import (
    Outcome,
    application_status,
    applying_status,
    source_status,
)

OLD, NEW = "a" * 40, "b" * 40


def app(**spec: Any) -> api.Application:
    return api.decode_application(
        {
            "metadata": {"name": "web", "namespace": "team", "generation": 2},
            "spec": {"sourceRef": {"name": "repo"}, "interval": "5m", **spec},
        }
    )


def entry(name: str) -> Entry:
    return Entry(Key("", "ConfigMap", "team", name), "v1")


def test_retry_backoff_doubles_from_the_retry_interval_up_to_the_interval() -> None:
    delays = [retry_delay(30.0, 300.0, n) for n in range(1, 7)]
    assert delays == [30.0, 60.0, 120.0, 240.0, 300.0, 300.0]
    assert retry_delay(60.0, 10.0, 9) == 60.0  # never below the retry interval


def test_a_failed_sync_waits_for_its_backoff_not_for_the_next_tick() -> None:
    a = app(retry={"interval": "10s", "limit": 5})
    memory = AppMemory(last_sync=100.0, generation=2, attempted=NEW, failures=2)
    ask: dict[str, Any] = dict(revision=NEW, requested="", recovered=False, exhausted=False)
    assert due(memory, a, now=101.0, **ask) == due(memory, a, now=101.0, **ask)
    assert not due(memory, a, now=119.0, **ask).now  # second retry: 20 s after
    assert due(memory, a, now=101.0, **ask).after == 19.0
    assert due(memory, a, now=120.0, **ask).now
    # a new revision, a new generation or `qd sync APP` does not wait
    assert due(memory, a, now=101.0, **{**ask, "revision": OLD}).now
    assert due(memory, a, now=101.0, **{**ask, "requested": "now"}).now
    bumped = AppMemory(last_sync=100.0, generation=1, attempted=NEW, failures=2)
    assert due(bumped, a, now=101.0, **ask).now


def test_a_synced_app_waits_its_interval_and_a_stalled_one_waits_to_be_asked() -> None:
    a = app()
    memory = AppMemory(last_sync=0.0, generation=2, attempted=NEW, revision=NEW)
    ask: dict[str, Any] = dict(revision=NEW, requested="", recovered=False, exhausted=False)
    assert not due(memory, a, now=299.0, **ask).now and due(memory, a, now=300.0, **ask).now
    stalled: dict[str, Any] = {**ask, "exhausted": True}
    assert not due(memory, a, now=10_000.0, **stalled).now
    assert due(memory, a, now=10.0, **{**stalled, "recovered": True}).now
    assert due(memory, a, now=10.0, **{**stalled, "requested": "now"}).now


def test_the_source_recovered_when_it_became_ready_after_the_last_failed_attempt() -> None:
    failed = application_status(
        app(), Outcome(revision=NEW, errors=["fetch: connection refused"]), "2026-01-01T00:00:05Z"
    )
    a = replace(app(), status=failed)
    down = source_status(None, None, "unreachable", 1, "2026-01-01T00:00:01Z")
    assert not source_recovered(down, a)
    art = api.Artifact(revision=NEW, ref="main")
    early = source_status(None, art, "", 1, "2026-01-01T00:00:04Z")
    assert not source_recovered(early, a)  # it was Ready before the attempt failed
    back = source_status(down, art, "", 1, "2026-01-01T00:00:09Z")
    assert source_recovered(back, a)
    ok = application_status(a, Outcome(revision=NEW), "2026-01-01T00:00:10Z")
    assert not source_recovered(back, replace(a, status=ok))


def test_while_applying_status_is_reconciling_and_holds_old_and_new_inventory() -> None:
    done = application_status(
        app(), Outcome(revision=OLD, inventory=[entry("a"), entry("b")]), "2026-01-01T00:00:00Z"
    )
    a = replace(app(), status=done)
    status = applying_status(a, NEW, [entry("b"), entry("a"), entry("c")], "2026-01-01T00:01:00Z")
    ready = find_condition(status.conditions, "Ready")
    reconciling = find_condition(status.conditions, "Reconciling")
    assert ready is not None and (ready.status, ready.message) == (
        "Unknown",
        f"applying revision {NEW[:12]}",
    )
    assert reconciling is not None and reconciling.status == "True"
    assert [r.name for r in status.inventory] == ["a", "b", "c"]
    assert status.last_attempted_revision == NEW and status.last_applied_revision == OLD
    # a sync that fails after applying some of it keeps the recorded inventory
    mid = replace(a, status=status)
    failed = application_status(
        mid, Outcome(revision=NEW, errors=["c: boom"]), "2026-01-01T00:01:01Z"
    )
    assert [r.name for r in failed.inventory] == ["a", "b", "c"]
    after = application_status(
        mid, Outcome(revision=NEW, inventory=[entry("c")]), "2026-01-01T00:01:02Z"
    )
    ready = find_condition(after.conditions, "Ready")
    assert ready is not None and ready.status == "True"
    assert ready.last_transition_time == "2026-01-01T00:01:02Z"


def test_due_says_why_and_only_time_makes_a_routine_resync() -> None:
    """The benchmark's repeated syncs were routine re-syncs (``interval``): a run longer
    than spec.interval re-syncs the Applications done first. ``why`` tells them apart."""
    a = app()
    ask: dict[str, Any] = dict(revision=NEW, requested="", recovered=False, exhausted=False)
    assert due(AppMemory(), a, now=0.0, **ask).why == "first"
    synced = AppMemory(last_sync=0.0, generation=2, attempted=NEW, revision=NEW)
    assert due(synced, a, now=10.0, **{**ask, "revision": OLD}).why == "revision"
    assert due(replace_memory(synced, generation=1), a, now=10.0, **ask).why == "generation"
    assert due(synced, a, now=10.0, **{**ask, "requested": "now"}).why == "asked"
    assert not due(synced, a, now=299.0, **ask).now  # nothing changed, interval not over
    assert due(synced, a, now=300.0, **ask).why == "interval"
    failed = replace_memory(synced, failures=1)
    assert due(failed, app(retry={"interval": "10s"}), now=10.0, **ask).why == "retry"


def replace_memory(memory: AppMemory, **changes: Any) -> AppMemory:
    return dataclasses.replace(memory, **changes)
