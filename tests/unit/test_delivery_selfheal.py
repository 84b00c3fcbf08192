"""Who edited a managed object last, from managedFields."""

from __future__ import annotations

from typing import Any

from quarterdeck.delivery.selfheal import edited_by_other


def obj(*entries: tuple[str, str, str]) -> dict[str, Any]:
    fields = [{"manager": m, "time": t, **({"subresource": s} if s else {})} for m, t, s in entries]
    return {"metadata": {"managedFields": fields}}


def test_our_own_apply_and_status_updates_are_not_edits() -> None:
    ours = ("quarterdeck-delivery", "2026-01-01T00:00:05Z", "")
    status = ("kube-controller-manager", "2026-01-01T00:00:09Z", "status")
    assert not edited_by_other(obj(ours, status))
    assert not edited_by_other({"metadata": {}})


def test_a_later_write_by_another_manager_is_an_edit() -> None:
    ours = ("quarterdeck-delivery", "2026-01-01T00:00:05Z", "")
    edit = ("kubectl-edit", "2026-01-01T00:00:07Z", "")
    assert edited_by_other(obj(ours, edit))
    earlier = ("kubectl-edit", "2026-01-01T00:00:01Z", "")
    assert not edited_by_other(obj(earlier, ours))


def test_a_write_in_the_same_second_counts_as_an_edit() -> None:
    ours = ("quarterdeck-delivery", "2026-01-01T00:00:05Z", "")
    edit = ("kubectl-edit", "2026-01-01T00:00:05Z", "")
    assert edited_by_other(obj(ours, edit))


def test_a_write_through_the_scale_subresource_counts_though_it_has_no_time() -> None:
    ours = ("quarterdeck-delivery", "2026-01-01T00:00:05Z", "")
    scaled = {"metadata": {"managedFields": [
        {"manager": "quarterdeck-delivery", "time": ours[1]},
        {"manager": "kubectl", "operation": "Update", "subresource": "scale"},
    ]}}  # fmt: skip
    assert edited_by_other(scaled)
    assert not edited_by_other(obj(ours))
