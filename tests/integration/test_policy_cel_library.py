"""Our Kubernetes CEL functions against the API server's own implementations.

Each documented example is evaluated by our engine; the value it gives becomes a
CEL literal, and the API server checks `(<example>) == <our value>` for all of them
in one ValidatingAdmissionPolicy on ConfigMaps with validationActions Warn, so one
dry-run create through kubectl lists every expression where the server computes
something else (a warning each) or fails (an error).
"""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
import yaml
from lightkube import Client, codecs
from lightkube.core.exceptions import ApiError
from lightkube.resources.admissionregistration_v1 import (
    ValidatingAdmissionPolicy,
    ValidatingAdmissionPolicyBinding,
)

from quarterdeck.cli.manifest_sources import kubectl
from quarterdeck.devcluster.session import RunningCluster
from quarterdeck.kube.wait import wait_for
from quarterdeck.policy.cel_conformance import ERRORS, EXAMPLES, SERVER_COMPILE_ERRORS
from quarterdeck.policy.cel_engine import default_cache

pytestmark = pytest.mark.integration
NAME = "qd-cel-library-conformance"
LABEL = "policy.quarterdeck.dev/cel-conformance"


def literal(value: Any) -> str:
    """A CEL literal for a plain value our engine returned."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no CEL literal for {value!r}")


def ours(expression: str) -> Any:
    cache = default_cache()
    return cache.get(expression, ()).evaluate(cache.backend.activation({}))


def config_map(namespace: str, name: str, labels: dict[str, str]) -> Any:
    return codecs.from_dict(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
        }
    )


def denial(kube: Client, obj: Any) -> str | None:
    try:
        kube.create(obj, dry_run=True)
    except ApiError as err:
        return err.status.message or "denied"
    return None


def server_warnings(cluster: RunningCluster, namespace: str) -> list[str]:
    manifest = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "check", "namespace": namespace, "labels": {LABEL: "true"}},
    }
    result = subprocess.run(
        [
            kubectl(),
            "--kubeconfig",
            str(cluster.kubeconfig),
            "create",
            "--dry-run=server",
            "-f",
            "-",
        ],
        input=yaml.safe_dump(manifest),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [line for line in result.stderr.splitlines() if line.startswith("Warning")]


def test_api_server_computes_our_values(
    kube: Client, dev_cluster: RunningCluster, namespace: str
) -> None:
    checks = [
        {"expression": f"({expr}) == {literal(ours(expr))}", "message": expr}
        for expr, _ in EXAMPLES
        if not isinstance(ours(expr), dict) or not any(k.startswith("@") for k in ours(expr))
    ]
    runtime_errors = [e for e in ERRORS if e not in SERVER_COMPILE_ERRORS]
    failing = [
        {"expression": f"[{expr}].size() == 1", "message": f"no error: {expr}"}
        for expr in runtime_errors
    ]
    probe = {"expression": "!('probe' in object.metadata.labels)", "message": "probe"}
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": NAME},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "resources": ["configmaps"],
                        "operations": ["CREATE"],
                    }
                ],
                "objectSelector": {"matchLabels": {LABEL: "true"}},
            },
            "validations": [probe, *checks, *failing],
        },
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": NAME},
        "spec": {"policyName": NAME, "validationActions": ["Deny"]},
    }
    kube.apply(codecs.from_dict(policy), force=True)
    kube.apply(codecs.from_dict(binding), force=True)
    try:
        probe_obj = config_map(namespace, "probe", {LABEL: "true", "probe": "1"})
        wait_for(lambda: denial(kube, probe_obj) is not None, "the policy to deny", 60, 0.5)
        binding["spec"]["validationActions"] = ["Warn"]
        kube.apply(codecs.from_dict(binding), force=True)
        wait_for(lambda: denial(kube, probe_obj) is None, "the binding to only warn", 60, 0.5)
        warnings = server_warnings(dev_cluster, namespace)
        errors = [w for w in warnings if "resulted in error" in w]
        mismatches = [w for w in warnings if w not in errors]
        assert mismatches == [], "\n".join(mismatches)
        not_failing = [e for e in runtime_errors if not any(e in w for w in errors)]
        assert not_failing == [], f"the API server evaluates these without error: {not_failing}"
        assert len(checks) > 100
    finally:
        kube.delete(ValidatingAdmissionPolicyBinding, NAME)
        kube.delete(ValidatingAdmissionPolicy, NAME)
