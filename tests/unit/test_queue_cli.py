"""`qd queue simulate` and `qd queue crds` on real manifest files."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from quarterdeck.cli.main import app

EXAMPLES = Path(__file__).parents[2] / "examples" / "queueing"
runner = CliRunner()


def test_simulate_says_why_a_gang_that_fits_quota_is_not_placed() -> None:
    files = [str(EXAMPLES / f) for f in ("two-teams.yaml", "gang.yaml", "nodes.yaml")]
    result = runner.invoke(app, ["queue", "simulate", *files, "-o", "yaml"])
    assert result.exit_code == 0, result.output
    out = yaml.safe_load(result.stdout)
    assert out["admitted"] == []
    (pending,) = out["pending"]
    assert pending["workload"] == "team-b/big-gang" and pending["reason"] == "Pending"
    assert "has quota but 4 matching nodes hold 0 of 2 pods" in pending["message"]


def test_simulate_admits_with_flavor_and_nodes() -> None:
    files = [str(EXAMPLES / f) for f in ("two-teams.yaml", "pretrain.yaml", "nodes.yaml")]
    result = runner.invoke(app, ["queue", "simulate", *files, "-o", "json"])
    assert result.exit_code == 0, result.output
    out = yaml.safe_load(result.stdout)
    (admitted,) = out["admitted"]
    ps = admitted["podSets"][0]
    assert ps["flavors"]["nvidia.com/gpu"] == "h100"
    assert ps["resourceUsage"]["nvidia.com/gpu"] == "8"
    assert sum(ps["nodes"].values()) == 2


def test_simulate_reports_bad_input_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: kueue.x-k8s.io/v1beta1\nkind: ClusterQueue\nmetadata: {name: q}\n"
        "spec:\n  resourceGroups:\n  - coveredResources: [cpu]\n    flavors:\n"
        "    - name: f\n      resources: [{name: cpu, nominalQuota: -1}]\n"
    )
    result = runner.invoke(app, ["queue", "simulate", str(bad)])
    assert result.exit_code == 2
    assert "nominalQuota: negative quantity -1" in result.output
    missing = runner.invoke(app, ["queue", "simulate", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 2 and "nope.yaml: no such file" in missing.output


def test_crds_print_as_applyable_yaml() -> None:
    result = runner.invoke(app, ["queue", "crds", "-o", "yaml"])
    assert result.exit_code == 0
    docs = list(yaml.safe_load_all(result.stdout))
    assert {d["spec"]["names"]["kind"] for d in docs} >= {"ClusterQueue", "Workload"}
    assert all(d["kind"] == "CustomResourceDefinition" for d in docs)


def test_bad_node_manifests_are_one_line_errors(tmp_path: Path) -> None:
    bad = tmp_path / "nodes.yaml"
    bad.write_text(
        "apiVersion: v1\nkind: Node\nmetadata: {name: n0}\n"
        "status: {allocatable: {nvidia.com/gpu: lots}}\n"
    )
    result = runner.invoke(app, ["queue", "simulate", str(EXAMPLES / "two-teams.yaml"), str(bad)])
    assert result.exit_code == 2
    assert "document 1 (Node n0): status.allocatable.nvidia.com/gpu: malformed quantity" in (
        result.output
    )
    bad.write_text("apiVersion: v1\nkind: Node\nmetadata: {name: n0}\n")
    result = runner.invoke(app, ["queue", "simulate", str(bad)])
    assert result.exit_code == 2 and "status.allocatable is missing" in result.output
