"""Queued Jobs are stored suspended by the API server itself: a MutatingAdmissionPolicy.

Why a policy and not a webhook (docs/queueing.md has the long form): the API server
evaluates the policy in-process, so there is no serving certificate to generate and
rotate, no network hop on every Job create, and nothing that blocks the cluster when
the operator is down, is being upgraded or was SIGTERMed. A labelled Job created
while no operator runs is stored suspended and waits; the next operator admits it.
The controller's own backstop (`controller.py`: a labelled Job running without an
admitted Workload is suspended) covers Jobs that slip past, e.g. a label added later.

`manifests()` are the policy and its binding (pure). `install()` applies them and
`in_force()` is the readiness signal: a dry-run create of a labelled probe Job comes
back suspended only once the API server actually applies the policy (it loads
policies from its own informer, a moment after they are stored).
"""

from __future__ import annotations

import contextlib
from typing import Any, cast

from lightkube import ApiError, Client, codecs
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.admissionregistration_v1 import MutatingWebhookConfiguration

from quarterdeck.queueing.jobs import QUEUE_LABELS

NAME = "queueing.quarterdeck.dev-suspend-queued-jobs"
PROBE_NAME = "quarterdeck-queueing-admission-probe"
LEGACY_WEBHOOK = "queueing.quarterdeck.dev"
# A plain dict-backed Job resource: the probe needs no typed model.
JobObject = create_namespaced_resource("batch", "v1", "Job", "jobs")


def _has_queue(label: str) -> str:
    return f"('{label}' in object.metadata.labels && object.metadata.labels['{label}'] != '')"


def manifests() -> list[dict[str, Any]]:
    """The MutatingAdmissionPolicy that sets `spec.suspend: true` on Jobs created with a
    queue-name label (ours or Kueue's), and its binding."""
    queued = " || ".join(_has_queue(label) for label in QUEUE_LABELS)
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingAdmissionPolicy",
        "metadata": {"name": NAME, "labels": {"app.kubernetes.io/part-of": "quarterdeck"}},
        "spec": {
            "failurePolicy": "Fail",
            "reinvocationPolicy": "Never",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": ["batch"],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE"],
                        "resources": ["jobs"],
                    }
                ]
            },
            "matchConditions": [
                {
                    "name": "has-queue-name",
                    "expression": f"has(object.metadata.labels) && ({queued})",
                }
            ],
            "mutations": [
                {
                    "patchType": "ApplyConfiguration",
                    "applyConfiguration": {
                        "expression": "Object{spec: Object.spec{suspend: true}}"
                    },
                }
            ],
        },
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingAdmissionPolicyBinding",
        "metadata": {"name": NAME, "labels": {"app.kubernetes.io/part-of": "quarterdeck"}},
        "spec": {"policyName": NAME},
    }
    return [policy, binding]


def install(client: Client) -> None:
    """Apply the policy and its binding (server-side, idempotent), and delete the Job
    webhook configuration earlier versions registered (`failurePolicy: Fail`: left
    behind, it refuses every labelled Job)."""
    for manifest in manifests():
        client.apply(codecs.from_dict(manifest), force=True)
    with contextlib.suppress(ApiError):
        client.delete(MutatingWebhookConfiguration, LEGACY_WEBHOOK)


def probe_job(namespace: str) -> dict[str, Any]:
    """A labelled Job that is never stored: created with dryRun to watch the policy act."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": PROBE_NAME,
            "namespace": namespace,
            "labels": {QUEUE_LABELS[0]: "admission-probe"},
        },
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "probe", "image": "probe"}],
                }
            }
        },
    }


def in_force(client: Client, namespace: str = "default") -> bool:
    """Whether the API server suspends a labelled Job created now (a dry-run create)."""
    try:
        stored = client.create(
            JobObject.from_dict(probe_job(namespace)), namespace=namespace, dry_run=True
        )
    except ApiError as err:
        if err.status.code == 409:  # a real Job of that name: a dry run cannot tell
            raise RuntimeError(
                f"a Job {namespace}/{PROBE_NAME} exists; delete it (the readiness probe's name)"
            ) from err
        raise
    spec = cast(dict[str, Any], stored.get("spec") or {})
    return spec.get("suspend") is True
