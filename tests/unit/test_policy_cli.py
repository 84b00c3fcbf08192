"""`qd check` and `qd policy` through the real typer app, on files in tmp_path."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from quarterdeck.cli.main import app
from quarterdeck.policy.library_examples import compliant_pod_spec, wrap

runner = CliRunner()


def write(path: Path, *docs: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump_all(docs), encoding="utf-8")
    return path


def latest_pod() -> dict[str, object]:
    spec = compliant_pod_spec()
    spec["containers"][0]["image"] = "nginx:latest"
    return wrap("Pod", "web", spec)


def test_check_denies_with_exit_code_1_and_json(tmp_path: Path) -> None:
    f = write(tmp_path / "app.yaml", latest_pod())
    result = runner.invoke(app, ["check", str(f), "-p", "disallow-latest-tag", "-o", "json"])
    assert result.exit_code == 1
    out = json.loads(result.stdout)
    assert out["summary"]["denied"] == 1
    assert out["violations"][0]["object"] == "Pod/web"


def test_check_passes_compliant_manifests_from_stdin() -> None:
    text = yaml.safe_dump(wrap("Deployment", "api", compliant_pod_spec()))
    result = runner.invoke(app, ["check", "-"], input=text)
    assert result.exit_code == 0, result.output
    assert "0 denied" in result.stdout


def test_check_uses_guardrails_found_in_the_repo_and_warn_does_not_fail(tmp_path: Path) -> None:
    guardrail = {
        "apiVersion": "policy.quarterdeck.dev/v1alpha1",
        "kind": "Guardrail",
        "metadata": {"name": "warn-latest"},
        "spec": {
            "validationActions": ["Warn"],
            "matchConstraints": {
                "resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}]
            },
            "validations": [
                {"expression": "!object.spec.containers.exists(c, c.image.endsWith(':latest'))"}
            ],
        },
    }
    write(tmp_path / "repo" / "policy.yaml", guardrail)
    write(tmp_path / "repo" / "app.yaml", latest_pod())
    result = runner.invoke(app, ["check", str(tmp_path / "repo")])
    assert result.exit_code == 0, result.output
    assert "1 warned" in result.stdout


def test_check_renders_kustomization(tmp_path: Path) -> None:
    base = tmp_path / "kust"
    write(base / "pod.yaml", latest_pod())
    (base / "kustomization.yaml").write_text(
        "resources: [pod.yaml]\nnamespace: shop\n", encoding="utf-8"
    )
    result = runner.invoke(app, ["check", str(base), "-p", "disallow-latest-tag", "-o", "json"])
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout)["violations"][0]["object"] == "Pod/shop/web"


def test_bad_yaml_and_bad_policy_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1,\n", encoding="utf-8")
    result = runner.invoke(app, ["check", str(bad)])
    assert result.exit_code == 2 and "invalid YAML" in result.stderr
    policy = {
        "apiVersion": "policy.quarterdeck.dev/v1alpha1",
        "kind": "Guardrail",
        "metadata": {"name": "typo"},
        "spec": {"validations": [{"expr": "true"}]},
    }
    f = write(tmp_path / "p.yaml", policy, latest_pod())
    result = runner.invoke(app, ["check", str(f)])
    assert result.exit_code == 2 and "typo" in result.stderr and "expr" in result.stderr


def test_tests_dir_reports_expected_results(tmp_path: Path) -> None:
    write(tmp_path / "resources.yaml", latest_pod(), wrap("Pod", "ok", compliant_pod_spec()))
    test = {
        "apiVersion": "policy.quarterdeck.dev/v1alpha1",
        "kind": "GuardrailTest",
        "metadata": {"name": "images"},
        "policies": ["disallow-latest-tag"],
        "resources": ["resources.yaml"],
        "results": [
            {"policy": "disallow-latest-tag", "resource": "Pod/web", "result": "fail"},
            {"policy": "disallow-latest-tag", "resource": "Pod/ok", "result": "pass"},
        ],
    }
    write(tmp_path / "images.test.yaml", test)
    result = runner.invoke(app, ["check", "--tests", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "2 passed, 0 failed" in result.stdout
    test["results"][1]["result"] = "fail"  # type: ignore[index]
    write(tmp_path / "images.test.yaml", test)
    assert runner.invoke(app, ["check", "--tests", str(tmp_path)]).exit_code == 1


def test_policy_list_and_export() -> None:
    listed = runner.invoke(app, ["policy", "list", "-o", "json"])
    assert len(json.loads(listed.stdout)) == 11
    exported = runner.invoke(app, ["policy", "export", "best-practice", "pss-baseline"])
    kinds = [d["kind"] for d in yaml.safe_load_all(exported.stdout)]
    assert kinds.count("ValidatingAdmissionPolicy") == 5  # no-plaintext-secrets is shift-left
    assert kinds.count("ValidatingAdmissionPolicyBinding") == 5
    # Pod Security is the API server's own admission: the namespace label, not a VAP.
    assert "pod-security.kubernetes.io/enforce=baseline" in exported.stderr
    only_pss = runner.invoke(app, ["policy", "export", "pss-restricted@v1.30"])
    assert only_pss.exit_code == 2
    assert "enforce-version=v1.30" in only_pss.stderr


def test_policy_crd_prints_structural_schema() -> None:
    crd = yaml.safe_load(runner.invoke(app, ["policy", "crd"]).stdout)
    assert crd["spec"]["group"] == "policy.quarterdeck.dev"
    assert "$ref" not in json.dumps(crd)


def test_committed_crd_matches_the_types() -> None:
    committed = Path(__file__).parents[2] / "deploy/crds/guardrails.policy.quarterdeck.dev.yaml"
    generated = runner.invoke(app, ["policy", "crd"]).stdout
    assert yaml.safe_load(committed.read_text(encoding="utf-8")) == yaml.safe_load(generated), (
        "regenerate with: qd policy crd > deploy/crds/guardrails.policy.quarterdeck.dev.yaml"
    )


def test_example_guardrails_pass_their_own_tests() -> None:
    examples = Path(__file__).parents[2] / "examples" / "guardrails"
    result = runner.invoke(app, ["check", "--tests", str(examples), "-o", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["failed"] == 0


def test_tests_naming_a_missing_resource_fail(tmp_path: Path) -> None:
    write(tmp_path / "resources.yaml", latest_pod())
    test = {
        "apiVersion": "policy.quarterdeck.dev/v1alpha1",
        "kind": "GuardrailTest",
        "metadata": {"name": "typo"},
        "policies": ["disallow-latest-tag"],
        "resources": ["resources.yaml"],
        "results": [{"policy": "disallow-latest-tag", "resource": "Pod/wbe", "result": "fail"}],
    }
    write(tmp_path / "typo.test.yaml", test)
    result = runner.invoke(app, ["check", "--tests", str(tmp_path), "-o", "json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["results"][0]["actual"] == "missing"


def test_export_from_repository_guardrails() -> None:
    examples = Path(__file__).parents[2] / "examples" / "guardrails"
    result = runner.invoke(app, ["policy", "export", "--from", str(examples), "-o", "json"])
    assert result.exit_code == 0, result.output
    items = json.loads(result.stdout)["items"]
    assert {i["kind"] for i in items} == {
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    }
    assert len(items) == 6


def test_policy_matching_nothing_is_reported() -> None:
    text = yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})
    result = runner.invoke(
        app, ["check", "-", "-p", "pss-baseline", "-o", "json"], input=text
    )
    assert json.loads(result.stdout)["policiesMatchingNothing"] == ["pss-baseline"]


def test_native_admission_policies_in_the_repo_are_enforced(tmp_path: Path) -> None:
    exported = runner.invoke(app, ["policy", "export", "disallow-latest-tag"]).stdout
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "vap.yaml").write_text(exported, encoding="utf-8")
    write(tmp_path / "repo" / "app.yaml", latest_pod())
    result = runner.invoke(app, ["check", str(tmp_path / "repo"), "-o", "json"])
    assert result.exit_code == 1
    assert [v["policy"] for v in json.loads(result.stdout)["violations"]] == ["disallow-latest-tag"]


def test_policy_import_lists_what_it_cannot_translate() -> None:
    policies = Path(__file__).parents[2] / "examples" / "kyverno" / "pod-security"
    result = runner.invoke(app, ["policy", "import", str(policies / "policies.yaml"),
                                 "-o", "json"])
    assert result.exit_code == 1  # three rules did not come along, and say so
    assert len(json.loads(result.stdout)["items"]) == 12
    assert "not translated: defaults-and-exemptions/add-seccomp-default: mutate" in result.stderr
    assert runner.invoke(app, ["policy", "import", str(policies / "resources.yaml")]).exit_code == 2
