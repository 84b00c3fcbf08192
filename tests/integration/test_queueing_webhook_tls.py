"""The Job webhook, registered with the dev cluster's API server over TLS: a Job with
Kueue's queue label is stored suspended; a Job without one is left alone."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from lightkube import Client, codecs
from lightkube.resources.admissionregistration_v1 import MutatingWebhookConfiguration
from lightkube.resources.batch_v1 import Job

from quarterdeck.devcluster.pki import generate
from quarterdeck.queueing.webhook import NAME, PATH, configuration, serve

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def webhook(kube: Client) -> Iterator[None]:
    pki = generate(datetime.now(UTC), "queueing-webhook-test")
    port = _free_port()
    server = serve("127.0.0.1", port, pki.serving.cert_pem, pki.serving.key_pem)
    cfg = configuration(f"https://127.0.0.1:{port}{PATH}", pki.ca.cert_pem)
    kube.apply(codecs.from_dict(cfg), force=True)
    yield
    kube.delete(MutatingWebhookConfiguration, NAME)
    server.shutdown()


def _job(namespace: str, name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "busybox"}],
                }
            }
        },
    }


def test_queued_jobs_are_stored_suspended(kube: Client, namespace: str, webhook: None) -> None:
    queued = _job(namespace, "queued", {"kueue.x-k8s.io/queue-name": "training"})
    kube.create(codecs.from_dict(queued))
    plain = _job(namespace, "plain", {})
    kube.create(codecs.from_dict(plain))
    stored = kube.get(Job, "queued", namespace=namespace)
    assert stored.spec is not None and stored.spec.suspend is True
    other = kube.get(Job, "plain", namespace=namespace)
    assert other.spec is not None and not other.spec.suspend
