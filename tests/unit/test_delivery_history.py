"""History recording, rollback lookup and dependsOn arithmetic."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from quarterdeck.api.delivery import HistoryEntry
from quarterdeck.delivery.dependencies import find_cycle, levels, waiting_for
from quarterdeck.delivery.history import HistoryError, find_revision, record
from quarterdeck.delivery.inventory import Owner

A, B = "a" * 40, "b" * 40


def entry(rev: str, result: str = "Succeeded", created: int = 0) -> HistoryEntry:
    return HistoryEntry(
        revision=rev,
        time="2026-01-01T00:00:00Z",
        result=result,  # type: ignore[arg-type]
        created=created,
    )


def test_record_is_newest_first_and_bounded() -> None:
    history: list[HistoryEntry] = []
    for i in range(5):
        history = record(history, entry(f"{i}" * 40), limit=3)
    assert [h.revision[0] for h in history] == ["4", "3", "2"]


def test_repeated_syncs_of_one_revision_fold_into_one_entry() -> None:
    history = record([entry(A, created=3)], entry(A), limit=10)
    assert len(history) == 1 and history[0].created == 3
    history = record(history, entry(A, "Failed"), limit=10)
    assert [h.result for h in history] == ["Failed", "Succeeded"]


def test_find_revision_by_prefix_only_for_successful_syncs() -> None:
    history = [entry(B, "Failed"), entry(A)]
    assert find_revision(history, A[:7]) == history[1]
    with pytest.raises(HistoryError, match="never synced successfully"):
        find_revision(history, B[:8])
    with pytest.raises(HistoryError, match="too short"):
        find_revision(history, "aa")


def test_find_revision_refuses_ambiguous_prefixes() -> None:
    with pytest.raises(HistoryError, match="ambiguous"):
        find_revision([entry("abcdef1" + "0" * 33), entry("abcdef1" + "1" * 33)], "abcdef1")


X, Y, Z = Owner("ns", "x"), Owner("ns", "y"), Owner("ns", "z")


def test_waiting_for_lists_dependencies_not_ready() -> None:
    graph = {X: [Y, Z]}
    assert waiting_for(X, graph, [Y]) == [Z]
    assert waiting_for(X, graph, [Y, Z]) == []
    assert waiting_for(Y, graph, []) == []


def test_cycles_are_found() -> None:
    assert find_cycle({X: [Y], Y: [Z]}) is None
    assert find_cycle({X: [Y], Y: [Z], Z: [X]}) == [X, Y, Z, X]
    assert find_cycle({X: [X]}) == [X, X]


owners = st.sampled_from([Owner("ns", n) for n in "abcdefg"])


@given(edges=st.lists(st.tuples(owners, owners), max_size=15))
def test_levels_put_every_dependency_first_when_there_is_no_cycle(
    edges: list[tuple[Owner, Owner]],
) -> None:
    graph: dict[Owner, list[Owner]] = {}
    for app, dep in edges:
        graph.setdefault(app, []).append(dep)
        graph.setdefault(dep, [])
    groups = levels(graph)
    flat = [o for g in groups for o in g]
    assert sorted(flat) == sorted(graph)  # each application exactly once
    if find_cycle(graph) is None:
        where = {o: i for i, g in enumerate(groups) for o in g}
        assert all(where[d] < where[a] for a, deps in graph.items() for d in deps)


def test_every_sync_that_changed_something_is_its_own_entry_with_its_own_time() -> None:
    first = HistoryEntry(revision=A, time="2026-01-01T00:00:00Z", result="Succeeded", created=2)
    heal = HistoryEntry(revision=A, time="2026-01-01T00:05:00Z", result="Succeeded", configured=1)
    history = record(record([], first, 10), heal, 10)
    assert [(h.time, h.created, h.configured) for h in history] == [
        ("2026-01-01T00:05:00Z", 0, 1),
        ("2026-01-01T00:00:00Z", 2, 0),
    ]
    noop = HistoryEntry(revision=A, time="2026-01-01T00:10:00Z", result="Succeeded")
    history = record(history, noop, 10)
    assert len(history) == 2 and history[0].time == "2026-01-01T00:05:00Z"
    assert history[0].last_time == "2026-01-01T00:10:00Z" and history[0].attempts == 2


def test_a_folded_repeat_shows_the_hooks_of_its_last_run() -> None:
    from quarterdeck.api.delivery import HookStatus

    def run(started: str) -> HookStatus:
        return HookStatus(phase="PreSync", hook="Job migrate-", name=f"migrate-{started[-3:-1]}",
                          result="Succeeded", started=started, finished=started)

    first = msgspec.structs.replace(entry(A, created=2), hooks=[run("2026-01-01T00:00:00Z")])
    repeat = msgspec.structs.replace(entry(A), hooks=[run("2026-01-01T00:05:00Z")])
    (folded,) = record([first], repeat, limit=10)
    assert folded.attempts == 2 and folded.created == 2
    assert [h.started for h in folded.hooks] == ["2026-01-01T00:05:00Z"]
