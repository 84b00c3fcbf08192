"""Notifications from real Application syncs to a loopback webhook: signed, matched by
Alert, no Secret data, and an endpoint that is down never holds a sync up."""

from __future__ import annotations

import base64
import hashlib
import hmac
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from delivery_setup import application, ready
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Secret
from notify_receiver import receiver
from notify_world import notified

from gitrepo import Repo
from quarterdeck.delivery.controller import Controller
from quarterdeck.kube.wait import wait_for
from quarterdeck.notify.payload import SIGNATURE_HEADER
from quarterdeck.notify.sender import Notifier

pytestmark = pytest.mark.integration
SECRET_VALUE = "s3cr3t-value-never-sent"


def provider(ns: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "notification.quarterdeck.dev/v1alpha1",
        "kind": "Provider",
        "metadata": {"name": "hook", "namespace": ns},
        "spec": {"type": "generic-hmac", "secretRef": {"name": "hook"}, **spec},
    }


def alert(ns: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "notification.quarterdeck.dev/v1alpha1",
        "kind": "Alert",
        "metadata": {"name": "team", "namespace": ns},
        "spec": {"providerRef": {"name": "hook"}, **spec},
    }


def hook_secret(kube: Client, ns: str, address: str) -> None:
    kube.create(
        Secret(
            metadata=ObjectMeta(name="hook", namespace=ns),
            stringData={"address": address, "token": "k3y"},
        )
    )


@pytest.fixture
def world(
    tmp_path: Path, kube: Client, namespace: str
) -> Iterator[tuple[Repo, Controller, Notifier]]:
    with notified(tmp_path, kube, namespace) as world:
        yield world


SECRET = f"""apiVersion: v1
kind: Secret
metadata: {{name: db}}
stringData: {{password: {SECRET_VALUE}}}
"""
BROKEN = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bad}\ndata: {a: [1]}\n"


def test_sync_and_failure_reach_the_webhook_signed_and_without_secret_data(
    world: tuple[Repo, Controller, Notifier], kube: Client, namespace: str
) -> None:
    repo, ctl, _ = world
    with receiver() as hook:
        hook_secret(kube, namespace, hook.url)
        ctl.cluster.apply(provider(namespace))
        ctl.cluster.apply(alert(namespace, eventTypes=["synced", "failed"]))
        repo.commit("one", {"web/secret.yaml": SECRET})
        ctl.cluster.apply(application(namespace, "web", "web"))
        assert ready(ctl.reconcile_all(), "web")[0] == "True"
        wait_for(lambda: hook.events() == ["synced"], "the synced notice", timeout=30)
        repo.commit("two", {"web/bad.yaml": BROKEN})
        assert ready(ctl.reconcile_all(force=True), "web")[0] == "False"
        wait_for(lambda: hook.events() == ["synced", "failed"], "the failed notice", timeout=30)
    for got in hook.received:
        expected = "sha256=" + hmac.new(b"k3y", got.body, hashlib.sha256).hexdigest()
        assert got.headers[SIGNATURE_HEADER] == expected
        assert got.json()["involvedObject"] == {
            "kind": "Application",
            "namespace": namespace,
            "name": "web",
        }
        assert SECRET_VALUE.encode() not in got.body
        assert base64.b64encode(SECRET_VALUE.encode()) not in got.body
    assert "bad" in hook.received[1].json()["message"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_endpoint_that_is_down_never_blocks_a_sync(
    world: tuple[Repo, Controller, Notifier], kube: Client, namespace: str
) -> None:
    repo, ctl, notifier = world
    hook_secret(kube, namespace, f"http://127.0.0.1:{_closed_port()}/hook")
    ctl.cluster.apply(provider(namespace))
    ctl.cluster.apply(alert(namespace))
    for i in range(3):
        repo.commit(
            f"c{i}",
            {
                "web/a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"
                f"data: {{i: '{i}'}}\n"
            },
        )
        ctl.cluster.apply(application(namespace, "web", "web"))
        assert ready(ctl.reconcile_all(force=True), "web")[0] == "True"
    # the syncs are done while the sender is still trying: it retries, with backoff
    wait_for(lambda: notifier.counts.retried >= 1, "a retry", timeout=30)
    assert notifier.counts.sent == 0


def test_receiver_errors_are_retried_until_it_answers(
    world: tuple[Repo, Controller, Notifier], kube: Client, namespace: str
) -> None:
    repo, ctl, notifier = world
    with receiver() as hook:
        hook.status = 503
        hook_secret(kube, namespace, hook.url)
        ctl.cluster.apply(provider(namespace, type="slack"))
        ctl.cluster.apply(alert(namespace, eventTypes=["synced"]))
        repo.commit("one", {"web/a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"})
        ctl.cluster.apply(application(namespace, "web", "web"))
        assert ready(ctl.reconcile_all(), "web")[0] == "True"
        wait_for(lambda: len(hook.received) >= 2, "a retried POST", timeout=30)
        hook.status = 200
        wait_for(lambda: notifier.counts.sent == 1, "a delivered notice", timeout=30)
    assert all(r.json()["text"].endswith(": synced") for r in hook.received)
    assert SIGNATURE_HEADER not in hook.received[0].headers  # only generic-hmac signs
