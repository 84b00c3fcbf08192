"""`qd check --cluster`: the cluster's namespaces' Pod Security labels decide, as the
API server itself would (the same words as a real dry-run create)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from lightkube import Client, codecs
from lightkube.core.exceptions import ApiError
from lightkube.resources.core_v1 import Namespace
from typer.testing import CliRunner

from quarterdeck.cli.main import app
from quarterdeck.devcluster.session import RunningCluster
from quarterdeck.policy.library_examples import compliant_pod_spec, wrap

pytestmark = pytest.mark.integration


def test_check_cluster_predicts_pod_security_admission(
    tmp_path: Path, kube: Client, namespace: str, dev_cluster: RunningCluster
) -> None:
    kube.patch(Namespace, namespace, {"metadata": {"labels": {
        "pod-security.kubernetes.io/enforce": "baseline",
        "pod-security.kubernetes.io/enforce-version": "v1.33"}}})
    spec = compliant_pod_spec()
    spec["containers"][0]["securityContext"]["seLinuxOptions"] = {"type": "spc_t"}
    pod = wrap("Pod", "selinux", spec)
    (tmp_path / "pod.yaml").write_text(yaml.safe_dump(pod), encoding="utf-8")
    result = CliRunner().invoke(app, ["check", str(tmp_path / "pod.yaml"), "--cluster",
                                      "--kubeconfig", str(dev_cluster.kubeconfig),
                                      "-n", namespace, "-o", "json"])
    assert result.exit_code == 1, result.output
    [violation] = json.loads(result.stdout)["violations"]
    with pytest.raises(ApiError) as refused:
        kube.create(codecs.from_dict({**pod, "metadata": {**pod["metadata"],
                                                         "namespace": namespace}}), dry_run=True)
    assert violation["policy"] == "pod-security"
    assert violation["message"] == refused.value.status.message
    assert '"baseline:v1.33"' in violation["message"]
    # Another namespace, unlabelled: privileged, nothing to say.
    passed = CliRunner().invoke(app, ["check", str(tmp_path / "pod.yaml"), "--cluster",
                                      "--kubeconfig", str(dev_cluster.kubeconfig),
                                      "-n", "default"])
    assert passed.exit_code == 0, passed.output


def test_check_cluster_applies_the_given_admission_configuration(
    tmp_path: Path, kube: Client, namespace: str, dev_cluster: RunningCluster
) -> None:
    """With the API server's PodSecurity configuration given (`--admission-config`), its
    defaults and exemptions decide as well as the labels: an unlabelled namespace takes
    the default level, and the exempt user's Pod passes."""
    spec = compliant_pod_spec()
    spec["containers"][0]["securityContext"]["privileged"] = True
    (tmp_path / "pod.yaml").write_text(yaml.safe_dump(wrap("Pod", "priv", spec)))
    (tmp_path / "admission.yaml").write_text(yaml.safe_dump({
        "apiVersion": "apiserver.config.k8s.io/v1", "kind": "AdmissionConfiguration",
        "plugins": [{"name": "PodSecurity", "configuration": {
            "apiVersion": "pod-security.admission.config.k8s.io/v1",
            "kind": "PodSecurityConfiguration", "defaults": {"enforce": "baseline"},
            "exemptions": {"usernames": ["ci-deployer"]}}}]}))
    base = ["check", str(tmp_path / "pod.yaml"), "--cluster", "--kubeconfig",
            str(dev_cluster.kubeconfig), "-n", namespace, "-o", "json"]
    plain = CliRunner().invoke(app, base)
    assert plain.exit_code == 0, plain.output  # unlabelled: privileged by default
    configured = CliRunner().invoke(app, [*base, "--admission-config",
                                          str(tmp_path / "admission.yaml")])
    assert configured.exit_code == 1, configured.output
    [violation] = json.loads(configured.stdout)["violations"]
    assert violation["message"].startswith(
        'pods "priv" is forbidden: violates PodSecurity "baseline:latest": privileged')
    exempt = CliRunner().invoke(app, [*base, "--admission-config",
                                      str(tmp_path / "admission.yaml"),
                                      "--username", "ci-deployer"])
    assert exempt.exit_code == 0, exempt.output
