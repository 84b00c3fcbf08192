"""PodSecurity admission configuration: read as the API server reads it, applied as
its PodSecurity plugin applies it (defaults per label, three exemptions)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from quarterdeck.policy.presync import presync
from quarterdeck.policy.pss import exemptions
from quarterdeck.policy.pss.admission import enforced, predict
from quarterdeck.policy.pss.versions import LevelVersion, Version

ENFORCE = "pod-security.kubernetes.io/enforce"
VERSION = "pod-security.kubernetes.io/enforce-version"


def _config(**exempt: list[str]) -> dict[str, Any]:
    return {"apiVersion": "pod-security.admission.config.k8s.io/v1",
            "kind": "PodSecurityConfiguration",
            "defaults": {"enforce": "restricted", "enforce-version": "v1.25"},
            "exemptions": exempt}


def _admission(configuration: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "apiserver.config.k8s.io/v1", "kind": "AdmissionConfiguration",
            "plugins": [{"name": "EventRateLimit", "path": "elsewhere.yaml"},
                        {"name": "PodSecurity", "configuration": configuration}]}


def _privileged_pod(namespace: str, runtime_class: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "i",
                                            "securityContext": {"privileged": True}}]}
    if runtime_class:
        spec["runtimeClassName"] = runtime_class
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": namespace}, "spec": spec}


def test_inline_configuration_is_read() -> None:
    config = exemptions.from_document(_admission(_config(usernames=["ci"],
                                                         namespaces=["kube-system"])))
    assert config.defaults == LevelVersion("restricted", Version(25))
    assert config.usernames == {"ci"} and config.namespaces == {"kube-system"}
    assert config.runtime_classes == frozenset()


def test_plugin_path_is_relative_to_the_admission_file(tmp_path: Path) -> None:
    import yaml

    (tmp_path / "psa.yaml").write_text(yaml.safe_dump(_config(runtimeClasses=["kata"])))
    doc = {"apiVersion": "apiserver.config.k8s.io/v1", "kind": "AdmissionConfiguration",
           "plugins": [{"name": "PodSecurity", "path": "psa.yaml"}]}
    (tmp_path / "admission.yaml").write_text(yaml.safe_dump(doc))
    assert exemptions.load(tmp_path / "admission.yaml").runtime_classes == {"kata"}


def test_admission_configuration_without_the_plugin_is_the_default() -> None:
    doc = {"apiVersion": "apiserver.config.k8s.io/v1", "kind": "AdmissionConfiguration",
           "plugins": []}
    assert exemptions.from_document(doc) == exemptions.DEFAULT


@pytest.mark.parametrize("doc, words", [
    ({**_config(), "defaults": {"enforce": "strict"}}, "defaults.enforce='strict'"),
    ({**_config(), "defaults": {"enforce-version": "1.30"}}, "defaults.enforce-version"),
    (_config(usernames=["a", "a"]), "exemptions.usernames has a name twice"),
    (_config(namespaces=[""]), "exemptions.namespaces must be a list of non-empty names"),
    ({"apiVersion": "v1", "kind": "ConfigMap"}, "expected a pod-security.admission"),
])
def test_bad_configuration_is_one_clear_error(doc: dict[str, Any], words: str) -> None:
    with pytest.raises(exemptions.AdmissionConfigError, match=words.replace(".", r"\.")):
        exemptions.from_document(doc)


def test_unreadable_file_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("- a list\n")
    with pytest.raises(exemptions.AdmissionConfigError, match=r"a\.yaml: not a YAML mapping"):
        exemptions.load(tmp_path / "a.yaml")


def test_defaults_stand_in_for_each_missing_label() -> None:
    defaults = LevelVersion("restricted", Version(25))
    assert str(enforced({}, defaults)[0]) == "restricted:v1.25"
    assert str(enforced({ENFORCE: "baseline"}, defaults)[0]) == "baseline:v1.25"
    assert str(enforced({VERSION: "latest"}, defaults)[0]) == "restricted:latest"


def test_each_exemption_lets_the_pod_through() -> None:
    config = exemptions.from_document(_config(usernames=["ci"], runtimeClasses=["kata"],
                                              namespaces=["ops"]))
    labels = {"apps": {ENFORCE: "baseline"}, "ops": {ENFORCE: "baseline"}}
    assert len(predict([_privileged_pod("apps")], labels, config=config)) == 1
    assert predict([_privileged_pod("ops")], labels, config=config) == []
    assert predict([_privileged_pod("apps")], labels, config=config, username="ci") == []
    assert predict([_privileged_pod("apps", "kata")], labels, config=config) == []
    assert len(predict([_privileged_pod("apps", "runc")], labels, config=config)) == 1
    # An unlabelled namespace takes the configured default (restricted), not privileged.
    assert len(predict([_privileged_pod("other")], labels, config=config)) == 1
    assert predict([_privileged_pod("other")], labels) == []


def test_presync_gate_honours_the_configuration() -> None:
    config = exemptions.from_document(_config(usernames=["system:serviceaccount:qd:op"]))
    labels = {"apps": {ENFORCE: "baseline"}}
    assert presync([], [_privileged_pod("apps")], namespaces=labels).blocked
    assert not presync([], [_privileged_pod("apps")], namespaces=labels, pod_security=config,
                       username="system:serviceaccount:qd:op").blocked


def test_user_exemption_does_not_reach_a_workloads_pods() -> None:
    """The controller creates a Deployment's pods under its own name: still refused."""
    config = exemptions.from_document(_config(usernames=["ci"], runtimeClasses=["kata"]))
    pod = _privileged_pod("apps")
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment",
                  "metadata": {"name": "d", "namespace": "apps"},
                  "spec": {"template": {"metadata": {}, "spec": pod["spec"]}}}
    labels = {"apps": {ENFORCE: "baseline"}}
    assert len(predict([deployment], labels, config=config, username="ci")) == 1
    deployment["spec"]["template"]["spec"] = _privileged_pod("apps", "kata")["spec"]
    assert predict([deployment], labels, config=config, username="ci") == []


def test_check_cli_refuses_a_bad_admission_config_in_one_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from quarterdeck.cli.main import app

    manifest = tmp_path / "pod.yaml"
    manifest.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {}\n")
    bad = tmp_path / "admission.yaml"
    bad.write_text("apiVersion: v1\nkind: ConfigMap\n")
    runner = CliRunner()
    alone = runner.invoke(app, ["check", str(manifest), "--admission-config", str(bad)])
    assert alone.exit_code == 2 and "need --cluster" in alone.output
    result = runner.invoke(app, ["check", str(manifest), "--cluster",
                                 "--admission-config", str(bad)])
    assert result.exit_code == 2 and "expected a pod-security" in result.output
    assert "Traceback" not in result.output
