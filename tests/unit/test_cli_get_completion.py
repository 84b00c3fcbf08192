"""`qd get` completes kind names from a written-out list: it must name every owned kind."""

from __future__ import annotations

from quarterdeck.cli.get import KIND_PLURALS, _complete_kind, owned_kinds


def test_the_completion_list_is_every_owned_kind() -> None:
    assert list(KIND_PLURALS) == sorted(k.plural for k in owned_kinds())


def test_completion_offers_the_kinds_that_start_with_what_was_typed() -> None:
    assert _complete_kind("ap") == ["applications"]
    assert _complete_kind("cl") == ["clusterqueues", "clustersets"]
    assert _complete_kind("zz") == []
