"""The Event recorder on a real API server: sixteen identical Events are one Event."""

from __future__ import annotations

from typing import Any

import pytest
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap, Event

from quarterdeck.kube.events import EventRecorder

pytestmark = pytest.mark.integration


def _regarding(kube: Client, namespace: str) -> dict[str, Any]:
    made = kube.create(ConfigMap(metadata=ObjectMeta(name="target", namespace=namespace)))
    assert made.metadata is not None
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "target", "namespace": namespace, "uid": made.metadata.uid},
    }


def _events_on_target(kube: Client, namespace: str) -> list[Event]:
    return [e for e in kube.list(Event, namespace=namespace) if e.involvedObject.name == "target"]


def test_sixteen_identical_events_are_one_event_with_count_16(kube: Client, namespace: str) -> None:
    regarding = _regarding(kube, namespace)
    recorder = EventRecorder(kube, "quarterdeck-tests")
    for _ in range(16):
        recorder.event(regarding, "Warning", "GuardrailDenied", "replicas must be at most 10")
    recorder.event(regarding, "Normal", "Synced", "synced revision abc")

    events = [e for e in kube.list(Event, namespace=namespace)
              if e.involvedObject.name == "target"]  # fmt: skip
    by_reason = {e.reason: e for e in events}
    assert len(events) == 2
    denied = by_reason["GuardrailDenied"]
    assert denied.count == 16
    assert denied.type == "Warning" and denied.message == "replicas must be at most 10"
    assert denied.involvedObject.uid == regarding["metadata"]["uid"]
    assert denied.source is not None and denied.source.component == "quarterdeck-tests"
    assert by_reason["Synced"].count == 1


def test_an_event_deleted_under_the_recorder_is_created_again(kube: Client, namespace: str) -> None:
    regarding = _regarding(kube, namespace)
    recorder = EventRecorder(kube, "quarterdeck-tests")
    recorder.event(regarding, "Warning", "SyncFailed", "conflict")
    (first,) = _events_on_target(kube, namespace)
    assert first.metadata is not None and first.metadata.name is not None
    kube.delete(Event, first.metadata.name, namespace=namespace)  # as the 1 h TTL would
    recorder.event(regarding, "Warning", "SyncFailed", "conflict")
    (again,) = _events_on_target(kube, namespace)
    assert again.count == 1 and again.reason == "SyncFailed"


def test_events_recorded_from_many_threads_keep_each_objects_count(
    kube: Client, namespace: str
) -> None:
    """Sixteen workers record at once: repeats on one object from all of them, and one
    Event each on objects of their own. An object's Events are written one at a time (its
    count goes 1, 2, ... 16 with no patch before the create); the others' go meanwhile."""
    from concurrent.futures import ThreadPoolExecutor

    regarding = _regarding(kube, namespace)
    recorder = EventRecorder(kube, "quarterdeck-tests")
    others = [
        {**regarding, "metadata": {**regarding["metadata"], "name": f"other-{i}", "uid": f"u-{i}"}}
        for i in range(16)
    ]

    def work(i: int) -> None:
        recorder.event(regarding, "Warning", "SyncFailed", "conflict")
        recorder.event(others[i], "Normal", "Synced", "synced revision abc")

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(work, range(16)))
    (repeated,) = _events_on_target(kube, namespace)
    assert repeated.count == 16
    synced = [e for e in kube.list(Event, namespace=namespace) if e.reason == "Synced"]
    names = sorted(o["metadata"]["name"] for o in others)
    assert sorted(e.involvedObject.name for e in synced) == names
    assert {e.count for e in synced} == {1}
