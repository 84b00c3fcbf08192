"""The audit trail's pure parts: incidents, edits from managedFields, the timeline."""

from __future__ import annotations

import pytest

from quarterdeck.api import delivery as api
from quarterdeck.audit.incident import ANNOTATION, Incident, epoch, incident_of, paused_for
from quarterdeck.audit.record import REVERTED, Edit, Entry, edits, field_paths, new_edits
from quarterdeck.audit.trail import Commit, parse_span, timeline
from quarterdeck.delivery.schedule import AppMemory, due

T0 = 1_780_000_000.0  # 2026-05-28T20:26:40Z


def test_an_incident_pauses_until_its_end_and_then_by_itself_no_more() -> None:
    note = {ANNOTATION: Incident("INC-1", T0, T0 + 3600, "ada").to_annotation()}
    assert paused_for(note, T0 + 10) == pytest.approx(3590)
    assert paused_for(note, T0 + 3600) == 0.0 and paused_for(note, T0 - 1) == 0.0
    assert paused_for({ANNOTATION: "not json"}, T0) == 0.0  # never stuck paused
    assert paused_for({}, T0) == 0.0
    assert incident_of(note) == Incident("INC-1", T0, T0 + 3600, "ada")


def test_an_incident_holds_the_interval_resync_but_not_a_new_revision() -> None:
    app = api.decode_application({
        "metadata": {"name": "web", "namespace": "team", "generation": 2, "annotations": {
            ANNOTATION: Incident("INC-1", T0, T0 + 3600).to_annotation()}},
        "spec": {"sourceRef": {"name": "repo"}, "interval": "5m"}})
    memory = AppMemory(last_sync=T0 - 600, generation=2, attempted="abc", revision="abc")
    held = due(memory, app, "abc", "", recovered=False, exhausted=False, now=T0 + 100)
    assert not held.now and held.after == 300.0
    assert due(memory, app, "def", "", recovered=False, exhausted=False, now=T0 + 100).now
    assert due(memory, app, "abc", "", recovered=False, exhausted=False, now=T0 + 3700).now


def _obj(*entries: dict[str, object]) -> dict[str, object]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop", "managedFields": list(entries)}}


def test_edits_are_other_managers_writes_with_the_fields_they_own() -> None:
    ours = {"manager": "quarterdeck-delivery", "operation": "Apply", "time": "2026-12-01T10:00:00Z",
            "fieldsV1": {"f:spec": {"f:replicas": {}}}}
    kubectl = {"manager": "kubectl-edit", "operation": "Update", "time": "2026-12-01T11:00:00Z",
               "fieldsV1": {"f:spec": {"f:template": {"f:spec": {"f:containers": {
                   'k:{"name":"app"}': {"f:image": {}}}}}}}}
    controller = {"manager": "kube-controller-manager", "operation": "Update",
                  "time": "2026-12-01T10:00:01Z",
                  "fieldsV1": {"f:metadata": {"f:annotations": {
                      "f:deployment.kubernetes.io/revision": {}}}}}
    status = {"manager": "kubectl-edit", "operation": "Update", "subresource": "status",
              "time": "2026-12-01T11:00:00Z", "fieldsV1": {"f:status": {"f:replicas": {}}}}
    [edit] = edits(_obj(ours, kubectl, controller, status), "quarterdeck-delivery")
    assert (edit.object, edit.manager) == ("Deployment/shop/web", "kubectl-edit")
    assert edit.fields == ('spec.template.spec.containers.{"name":"app"}.image',)
    assert field_paths({"f:data": {".": {}, "f:a": {}}}) == ["data.a"]
    recorded = [Entry(edit.time, "out-of-band", edit.object, edit.manager)]
    assert new_edits([edit], recorded) == []


def test_timeline_ties_changes_to_commits_and_edits_to_their_managers() -> None:
    history = [{"revision": "b" * 40, "time": "2026-12-01T10:00:00Z", "result": "Succeeded",
                "configured": 1},
               {"revision": "a" * 40, "time": "2026-11-01T10:00:00Z", "result": "Succeeded",
                "created": 2}]
    commits = {"b" * 40: Commit("b" * 40, "Ada <ada@example.com>", "bump image\n\nlong")}
    recorded = [Entry("2026-12-01T11:00:00Z", "out-of-band", "ConfigMap/shop/a", "kubectl-edit",
                      "Update", ["data.a"], "reverted by self-heal")]
    now = epoch("2026-12-02T12:00:00Z")
    lines = timeline("Application/shop/web", history, commits, recorded, [], 7 * 86400, now)
    assert [(x.change, x.by, x.detail, x.outcome) for x in lines] == [
        ("commit", "Ada <ada@example.com>", "bbbbbbbbbbbb bump image", "applied: 0 created, "
         "1 configured, 0 pruned"),
        ("out-of-band", "kubectl-edit", "Update data.a", "reverted by self-heal")]
    assert len(timeline("a", history, commits, recorded, [], 60 * 86400, now)) == 3


def test_spans() -> None:
    assert parse_span("30d") == 30 * 86400 and parse_span("90m") == 5400
    with pytest.raises(ValueError, match=r"e\.g\. 30d"):
        parse_span("a month")


def test_a_later_sync_of_the_same_revision_is_a_resync() -> None:
    sha = "c" * 40
    history = [{"revision": sha, "time": "2026-12-01T10:05:00Z", "result": "Succeeded",
                "configured": 1},
               {"revision": sha, "time": "2026-12-01T10:00:00Z", "result": "Succeeded",
                "created": 1}]
    commits = {sha: Commit(sha, "Ada <ada@example.com>", "add config")}
    now = epoch("2026-12-02T12:00:00Z")
    lines = timeline("Application/shop/web", history, commits, [], [], 7 * 86400, now)
    assert [(x.change, x.outcome) for x in lines] == [
        ("commit", "applied: 1 created, 0 configured, 0 pruned"),
        ("resync", "applied: 0 created, 1 configured, 0 pruned")]


def test_two_commits_synced_within_one_second_keep_their_order() -> None:
    """History times have whole seconds and status.history is newest first."""
    first, second = "a" * 40, "b" * 40
    history = [{"revision": second, "time": "2026-12-01T10:00:00Z", "result": "Succeeded",
                "configured": 1},
               {"revision": first, "time": "2026-12-01T10:00:00Z", "result": "Succeeded",
                "created": 1}]
    commits = {first: Commit(first, "Ada <ada@example.com>", "one"),
               second: Commit(second, "Ada <ada@example.com>", "two")}
    now = epoch("2026-12-02T12:00:00Z")
    lines = timeline("Application/shop/web", history, commits, [], [], 7 * 86400, now)
    assert [x.detail for x in lines] == [f"{first[:12]} one", f"{second[:12]} two"]


def test_a_second_edit_within_the_second_of_a_reverted_one_is_new() -> None:
    """managedFields keep whole seconds: after a revert, the same manager's write in the
    same second shows the taken-back field again, and is a new edit; a leftover entry
    with only other fields is not."""
    t = "2026-12-01T10:00:00Z"
    again = Edit("v1", "ConfigMap", "shop", "a", "kubectl-edit", "Update", t, ("data.a",))
    leftover = Edit("v1", "ConfigMap", "shop", "a", "kubectl-edit", "Update", t,
                    ("metadata.labels.x",))
    reverted = Entry(t, "out-of-band", "ConfigMap/shop/a", "kubectl-edit", "Update",
                     ["data.a"], REVERTED)
    assert new_edits([again], [reverted]) == [again]
    assert new_edits([leftover], [reverted]) == []
    kept = Entry(t, "out-of-band", "ConfigMap/shop/a", "kubectl-edit", "Update",
                 ["data.a"], "kept: break-glass incident (INC-42)")
    assert new_edits([again], [reverted, kept]) == []  # recorded once, not at every heal
