"""The Job webhook's pure half: which creations get suspended, and the configuration."""

from __future__ import annotations

import base64
import json
from typing import Any

from quarterdeck.queueing.webhook import configuration, review


def _review(job: dict[str, Any]) -> dict[str, Any]:
    return {"request": {"uid": "u1", "object": job}}


def test_queued_jobs_are_suspended_others_pass_untouched() -> None:
    queued = {"metadata": {"labels": {"kueue.x-k8s.io/queue-name": "q"}}, "spec": {}}
    out = review(_review(queued))["response"]
    assert out["allowed"] and out["uid"] == "u1" and out["patchType"] == "JSONPatch"
    assert json.loads(base64.b64decode(out["patch"])) == [
        {"op": "add", "path": "/spec/suspend", "value": True}
    ]
    running = {**queued, "spec": {"suspend": False}}
    patch = json.loads(base64.b64decode(review(_review(running))["response"]["patch"]))
    assert patch[0]["op"] == "replace"
    plain = review(_review({"metadata": {"labels": {}}, "spec": {}}))["response"]
    assert plain == {"uid": "u1", "allowed": True}


def test_configuration_selects_both_queue_labels() -> None:
    cfg = configuration("https://127.0.0.1:9443/mutate-batch-v1-job", b"CA")
    keys = [w["objectSelector"]["matchExpressions"][0]["key"] for w in cfg["webhooks"]]
    assert keys == ["queueing.quarterdeck.dev/queue-name", "kueue.x-k8s.io/queue-name"]
    assert all(w["failurePolicy"] == "Fail" for w in cfg["webhooks"])
