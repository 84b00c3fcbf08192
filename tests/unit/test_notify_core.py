"""Notifications as pure decisions: which status changes are events, which Alerts take
them, what is sent (signed, Slack and Teams shapes), rate limits and retries."""

from __future__ import annotations

import hashlib
import hmac
import json

import msgspec
import pytest

from quarterdeck.api.delivery import (
    Application,
    ApplicationStatus,
    FieldDrift,
    HistoryEntry,
    ObjectDrift,
    decode_application,
)
from quarterdeck.api.meta import Condition
from quarterdeck.api.notify import decode_alert
from quarterdeck.notify.changes import changes
from quarterdeck.notify.limits import RateLimits, retry_delay, retryable
from quarterdeck.notify.matching import matching
from quarterdeck.notify.notice import clean, notice
from quarterdeck.notify.payload import SIGNATURE_HEADER, render

A = "a" * 40
NOW = "2026-01-01T00:00:00Z"


def app(status: ApplicationStatus | None, labels: dict[str, str] | None = None) -> Application:
    base = decode_application(
        {
            "metadata": {"name": "web", "namespace": "team", "labels": labels or {"tier": "1"}},
            "spec": {"sourceRef": {"name": "repo"}},
        }
    )
    return msgspec.structs.replace(base, status=status)


def ready(reason: str, status: str = "True", message: str = "") -> list[Condition]:
    return [Condition(type="Ready", status=status, reason=reason, message=message)]  # type: ignore[arg-type]


def entry(
    result: str = "Succeeded", created: int = 0, time: str = NOW, message: str = ""
) -> HistoryEntry:
    return HistoryEntry(revision=A, time=time, result=result, created=created, message=message)  # type: ignore[arg-type]


def test_a_sync_that_changed_something_is_one_synced_notice_and_its_repeat_none() -> None:
    old = ApplicationStatus(history=[])
    new = ApplicationStatus(conditions=ready("Synced"), history=[entry(created=2)])
    (item,) = changes(old, app(new), NOW)
    assert (item.event, item.subject, item.severity) == ("synced", "Application team/web", "info")
    assert "2 created" in item.message and item.revision == A
    again = msgspec.structs.replace(
        new, history=[msgspec.structs.replace(entry(created=2), attempts=2)]
    )
    assert changes(new, app(again), NOW) == []


def test_failure_denial_degradation_and_drift_are_events() -> None:
    failed = ApplicationStatus(
        conditions=ready("SyncFailed", "False", "boom"), history=[entry("Failed", message="boom")]
    )
    assert [n.event for n in changes(None, app(failed), NOW)] == ["failed"]
    denied = ApplicationStatus(
        conditions=ready("GuardrailDenied", "False"), history=[entry("Failed", message="denied")]
    )
    assert [n.event for n in changes(failed, app(denied), NOW)] == ["guardrail-denied"]
    degraded = ApplicationStatus(conditions=ready("HealthCheckFailed", "False", "web: Degraded"))
    assert [n.event for n in changes(None, app(degraded), NOW)] == ["degraded"]
    assert changes(degraded, app(degraded), NOW) == []
    secret_drift = ObjectDrift(
        kind="Secret",
        name="db",
        namespace="team",
        api_version="v1",
        fields=[FieldDrift(path="data.password", desired="czNjcjN0", live="b3RoZXI=")],
    )
    drifting = ApplicationStatus(drift=[secret_drift])
    (item,) = changes(None, app(drifting), NOW)
    assert item.event == "drift" and "Secret team/db data.password" in item.message
    assert "czNjcjN0" not in item.message and "b3RoZXI=" not in item.message  # no Secret data


def alert(**spec: object) -> object:
    return decode_alert(
        {
            "metadata": {"name": "a", "namespace": "team"},
            "spec": {"providerRef": {"name": "p"}, **spec},
        }
    )


def test_alerts_match_by_event_type_name_namespace_and_labels() -> None:
    item = notice("failed", "Application", "team", "web", "boom", labels={"tier": "1"})
    every = alert()
    only_synced = alert(eventTypes=["synced"])
    by_label = alert(eventSources=[{"kind": "Application", "matchLabels": {"tier": "1"}}])
    other_label = alert(eventSources=[{"kind": "Application", "matchLabels": {"tier": "2"}}])
    by_glob = alert(eventSources=[{"kind": "Application", "name": "w*"}])
    elsewhere = alert(eventSources=[{"kind": "Application", "namespace": "other"}])
    anywhere = alert(eventSources=[{"kind": "Application", "namespace": "*"}])
    suspended = alert(suspend=True)
    alerts = [every, only_synced, by_label, other_label, by_glob, elsewhere, anywhere, suspended]
    found = matching(alerts, item)  # type: ignore[arg-type]
    assert found == [every, by_label, by_glob, anywhere]


def test_hmac_signature_slack_and_teams_shapes() -> None:
    item = notice("synced", "Application", "team", "web", "revision abc: 1 created", revision=A)
    body, headers = render("generic-hmac", item, key="k3y")
    expected = "sha256=" + hmac.new(b"k3y", body, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER] == expected
    doc = json.loads(body)
    assert doc["involvedObject"] == {"kind": "Application", "namespace": "team", "name": "web"}
    with pytest.raises(ValueError, match="no 'token'"):
        render("generic-hmac", item)
    slack = json.loads(render("slack", item)[0])
    assert slack["text"] == "Application team/web: synced" and slack["attachments"][0]["text"]
    teams = json.loads(render("msteams", item, summary="prod")[0])
    card = teams["attachments"][0]["content"]
    assert teams["type"] == "message" and card["type"] == "AdaptiveCard"
    assert card["body"][0]["text"] == "prod: Application team/web: synced"


def test_messages_are_one_line_without_credentials() -> None:
    text = clean("fetch https://bob:hunter2@git.example/r failed\n token: abc123 password=x")
    assert "hunter2" not in text and "abc123" not in text and "\n" not in text
    assert "https://***@git.example/r" in text


def test_rate_limit_and_backoff() -> None:
    limits = RateLimits()
    assert [limits.allow("p", 2, 0.0) for _ in range(3)] == [True, True, False]
    assert limits.allow("p", 2, 30.0)  # one token back after half a minute at 2/min
    assert [retry_delay(a) for a in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, None]
    assert retryable(None) and retryable(503) and retryable(429) and not retryable(404)
