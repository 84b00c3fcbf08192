"""Status of Sources and Applications computed from reconcile outcomes (pure)."""

from __future__ import annotations

from typing import Any

from quarterdeck.api import delivery as api
from quarterdeck.api.meta import find_condition
from quarterdeck.delivery.drift import FieldDiff
from quarterdeck.delivery.health import Health
from quarterdeck.delivery.inventory import Entry
from quarterdeck.delivery.manifests import Key
from quarterdeck.delivery.status import (
    Outcome,
    application_status,
    blocked_status,
    entries,
    references,
    source_status,
    spec_errors,
)

SHA = "c0ffee" + "0" * 34
KEY = Key("apps", "Deployment", "team", "web")


def app(**spec: Any) -> api.Application:
    return api.decode_application(
        {
            "metadata": {"name": "web", "namespace": "team", "generation": 4},
            "spec": {"sourceRef": {"name": "repo"}, **spec},
        }
    )


def conds(status: Any) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status, c.reason) for c in status.conditions}


def test_successful_healthy_sync_is_ready_with_inventory_and_history() -> None:
    out = Outcome(
        revision=SHA,
        created=1,
        inventory=[Entry(KEY, "apps/v1")],
        versions={KEY: "apps/v1"},
        health={KEY: Health("Healthy")},
    )
    status = application_status(app(), out, "t1")
    assert conds(status) == {
        "Ready": ("True", "Synced"),
        "Reconciling": ("False", "Synced"),
        "Stalled": ("False", "Synced"),
    }
    assert status.observed_generation == 4
    assert status.last_applied_revision == SHA
    assert entries(status.inventory) == [Entry(KEY, "apps/v1")]
    assert status.resources[0].health == "Healthy"
    assert status.history[0].created == 1 and status.history[0].result == "Succeeded"


def test_unhealthy_sync_is_not_ready_with_the_reason() -> None:
    out = Outcome(
        revision=SHA,
        health={KEY: Health("Degraded", "deadline exceeded")},
        overall=Health("Degraded", "deadline exceeded"),
    )
    status = application_status(app(), out, "t1")
    ready = find_condition(status.conditions, "Ready")
    assert ready is not None and ready.status == "False" and ready.reason == "HealthCheckFailed"
    assert "deadline exceeded" in ready.message


def test_failed_sync_keeps_last_good_inventory_and_records_the_failure() -> None:
    good = application_status(app(), Outcome(revision=SHA, inventory=[Entry(KEY, "apps/v1")]), "t1")
    previous = app()
    previous = api.Application(metadata=previous.metadata, spec=previous.spec, status=good)
    bad = application_status(previous, Outcome(revision="b" * 40, errors=["a.yaml:3: bad"]), "t2")
    assert entries(bad.inventory) == [Entry(KEY, "apps/v1")]
    assert bad.last_applied_revision == SHA and bad.last_attempted_revision == "b" * 40
    assert [h.result for h in bad.history] == ["Failed", "Succeeded"]
    assert conds(bad)["Ready"] == ("False", "SyncFailed")


def test_drift_found_is_reported_per_field_only_for_the_applied_revision() -> None:
    out = Outcome(
        revision=SHA, drift={KEY: [FieldDiff("spec.replicas", 2, 5)]}, versions={KEY: "apps/v1"}
    )
    assert application_status(app(), out, "t").drift == []  # a new revision: the commit
    previous = app()
    synced = api.ApplicationStatus(last_applied_revision=SHA)
    previous = api.Application(metadata=previous.metadata, spec=previous.spec, status=synced)
    (obj,) = application_status(previous, out, "t").drift
    assert (obj.kind, obj.name, obj.fields[0].path, obj.fields[0].live) == (
        "Deployment",
        "web",
        "spec.replicas",
        5,
    )


def test_blocked_and_stalled() -> None:
    waiting = blocked_status(app(), "DependencyNotReady", "waiting for team/db", "t")
    assert conds(waiting)["Ready"] == ("Unknown", "DependencyNotReady")
    assert conds(waiting)["Reconciling"][0] == "True"
    stalled = blocked_status(app(), "DependencyCycle", "x -> y -> x", "t", stalled=True)
    assert conds(stalled)["Stalled"] == ("True", "DependencyCycle")
    # Projects that could not be read refuse nothing: the Application waits (Unknown)
    unread = blocked_status(app(), "ProjectsUnavailable", "cannot list Projects: 429", "t")
    assert conds(unread)["Ready"] == ("Unknown", "ProjectsUnavailable")


def test_spec_errors_name_the_field() -> None:
    assert spec_errors(app()) == []
    assert spec_errors(app(interval="0s", path="../x")) == [
        "spec.interval: duration '0s' must be greater than zero",
        "spec.path '../x' leaves the repository",
    ]


def test_source_status_keeps_the_last_artifact_on_failure() -> None:
    art = api.Artifact(revision=SHA, ref="refs/heads/main")
    ok = source_status(None, art, "", 1, "t1")
    failed = source_status(ok, None, "repository unreachable", 1, "t2")
    assert failed.artifact == art
    assert conds(failed)["Ready"] == ("False", "FetchFailed")


def test_references_round_trip() -> None:
    items = [Entry(KEY, "apps/v1"), Entry(Key("", "Namespace", "", "team"), "v1")]
    assert entries(references(items)) == items


def test_repeated_failures_of_one_revision_stall_after_the_retry_limit() -> None:
    current = app(retry={"interval": "1s", "limit": 2})
    bad = Outcome(revision="b" * 40, errors=["a.yaml:3: bad"])
    reasons = []
    for _ in range(4):
        status = application_status(current, bad, "t")
        current = api.Application(metadata=current.metadata, spec=current.spec, status=status)
        reasons.append(conds(status)["Ready"][1])
    assert reasons == ["SyncFailed", "SyncFailed", "RetriesExhausted", "RetriesExhausted"]
    assert conds(current.status)["Stalled"] == ("True", "RetriesExhausted")
    assert len(current.status.history) == 1 and current.status.history[0].attempts == 4
    ready = find_condition(current.status.conditions, "Ready")
    assert ready is not None and ready.message == "a.yaml:3: bad (attempt 4)"
