"""Differential test: our Pod Security evaluator and the API server's own PSA agree.

Namespaces are labelled `pod-security.kubernetes.io/enforce` at baseline and
restricted, latest and pinned versions. Every built-in example, and random pods
and workloads made of the examples' changes, are created with dryRun=All in each:
a Pod is refused or not, a workload is stored with or without a `would violate
PodSecurity` warning. `predict` (what the pre-sync check and `qd check --cluster`
use) must say the same, word for word.
"""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace

from quarterdeck.policy.library_examples import (
    compliant_pod_spec,
    examples,
    pod_spec_changes,
    wrap,
)
from quarterdeck.policy.pss.admission import ENFORCE, ENFORCE_VERSION, POD_SECURITY_KINDS, predict

pytestmark = pytest.mark.integration

#: (level, pinned version or None): latest, and versions where rules changed.
POLICIES = [("baseline", None), ("restricted", None), ("restricted", "v1.30"),
            ("baseline", "v1.34"), ("restricted", "v1.24"), ("baseline", "v1.26")]
_PATHS = {"Pod": "api/v1", "Deployment": "apis/apps/v1", "StatefulSet": "apis/apps/v1",
          "DaemonSet": "apis/apps/v1", "ReplicaSet": "apis/apps/v1", "Job": "apis/batch/v1",
          "CronJob": "apis/batch/v1"}
_WARNING = re.compile(r'^\d{3} \S+ "(.*)"$')


def _http(kube: Client) -> Any:
    """lightkube's own HTTP client (same server, same credentials): dry runs need the
    response's Warning headers, which lightkube does not return."""
    return kube._client._client


def server_says(kube: Client, obj: dict[str, Any]) -> tuple[str, str]:
    """('refused', message), ('warned', warning), ('allowed', '') or ('invalid', why)."""
    ns, kind = obj["metadata"]["namespace"], obj["kind"]
    url = f"/{_PATHS[kind]}/namespaces/{ns}/{kind.lower()}s"
    resp = _http(kube).post(url, params={"dryRun": "All"}, json=obj)
    if resp.status_code == 403 and "PodSecurity" in resp.json().get("message", ""):
        return "refused", resp.json()["message"]
    if resp.status_code >= 300:
        return "invalid", resp.json().get("message", resp.text)
    warnings = [m.group(1).replace('\\"', '"') for w in resp.headers.get_list("warning")
                if (m := _WARNING.match(w)) and "PodSecurity" in m.group(1)]
    return ("warned", warnings[0]) if warnings else ("allowed", "")


def we_say(obj: dict[str, Any], labels: dict[str, str], minor: int) -> tuple[str, str]:
    refusals = predict([obj], {obj["metadata"]["namespace"]: labels}, server_minor=minor)
    if not refusals:
        return "allowed", ""
    return ("refused" if obj["kind"] == "Pod" else "warned"), refusals[0].message


@pytest.fixture(scope="module")
def labelled(kube: Client) -> Iterator[list[tuple[str, dict[str, str]]]]:
    """One namespace per (level, version), and the API server's minor version."""
    suffix = uuid.uuid4().hex[:6]
    made = []
    for level, version in POLICIES:
        labels = {ENFORCE: level, **({ENFORCE_VERSION: version} if version else {})}
        name = f"pss-{level}-{(version or 'latest').replace('.', '-')}-{suffix}"
        kube.create(Namespace(metadata=ObjectMeta(name=name, labels=labels)))
        made.append((name, labels))
    yield made
    for name, _ in made:
        kube.delete(Namespace, name)


@pytest.fixture(scope="module")
def server_minor(kube: Client) -> int:
    return int(re.sub(r"\D.*", "", _http(kube).get("/version").json()["minor"]))


def placed(obj: dict[str, Any], namespace: str) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    out["metadata"]["namespace"] = namespace
    return out


def test_every_example_decided_as_the_api_server_decides(
    kube: Client, labelled: list[tuple[str, dict[str, str]]], server_minor: int
) -> None:
    cases = [e for e in examples() if e.obj["kind"] in POD_SECURITY_KINDS]
    differ, outcomes = [], {"refused": 0, "warned": 0, "allowed": 0}
    for example in cases:
        for namespace, labels in labelled:
            obj = placed(example.obj, namespace)
            theirs = server_says(kube, obj)
            assert theirs[0] != "invalid", f"{example.policy}/{example.name}: {theirs[1]}"
            ours = we_say(obj, labels, server_minor)
            outcomes[theirs[0]] += 1
            if ours != theirs:
                differ.append(f"{example.policy}/{example.name} in {labels}:\n"
                              f"  ours:   {ours}\n  server: {theirs}")
    assert differ == [], "\n".join(differ)
    # The examples exercise both outcomes of both kinds at every level.
    assert min(outcomes.values()) > 20, outcomes


KINDS = ["Pod", "Pod", "Deployment", "StatefulSet", "Job", "CronJob"]


@st.composite
def random_objects(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    changes = draw(st.lists(st.sampled_from(pod_spec_changes()), max_size=3, unique_by=str))
    spec = compliant_pod_spec()
    for _, change in changes:
        change(spec)
    where = draw(st.sampled_from(["", "containers", "initContainers"]))
    if where:  # a second container like the first: messages name both
        twin = {**copy.deepcopy(spec["containers"][0]), "name": "second"}
        spec.setdefault(where, []).append(twin)
    kind = draw(st.sampled_from(KINDS))
    return wrap(kind, f"rnd-{uuid.uuid4().hex[:8]}", spec), ", ".join(c for c, _ in changes)


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=random_objects())
def test_random_pods_decided_as_the_api_server_decides(
    kube: Client, labelled: list[tuple[str, dict[str, str]]], server_minor: int,
    case: tuple[dict[str, Any], str],
) -> None:
    obj, changes = case
    for namespace, labels in labelled:
        placed_obj = placed(obj, namespace)
        theirs = server_says(kube, placed_obj)
        if theirs[0] == "invalid":
            event("refused by validation (conflicting changes)")
            return  # the changes conflict (the API server's validation refuses the object)
        event(f"{labels[ENFORCE]}: {theirs[0]}")
        assert we_say(placed_obj, labels, server_minor) == theirs, \
            f"{obj['kind']} with [{changes}] in {labels}"
