"""`qd render` through the real CLI app."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from quarterdeck.cli.main import app

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {}\n"


def test_render_prints_yaml_and_json(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(CM.format("a") + "---\n" + CM.format("b"))
    result = CliRunner().invoke(app, ["render", str(tmp_path), "-n", "team"])
    assert result.exit_code == 0, result.output
    docs = list(yaml.safe_load_all(result.stdout))
    assert [d["metadata"] for d in docs] == [
        {"name": "a", "namespace": "team"},
        {"name": "b", "namespace": "team"},
    ]
    result = CliRunner().invoke(app, ["render", str(tmp_path), "-o", "json"])
    assert [i["metadata"]["name"] for i in json.loads(result.stdout)["items"]] == ["a", "b"]


def test_render_errors_are_one_line_with_exit_code_2(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("kind: ConfigMap\nmetadata: {name: x}\n")
    result = CliRunner().invoke(app, ["render", str(tmp_path)])
    assert result.exit_code == 2
    # the directory as typed stays in file:line
    assert result.stderr.strip() == f"error: {tmp_path}/bad.yaml:1: object has no apiVersion"


def test_render_refuses_a_path_outside_the_root(tmp_path: Path) -> None:
    (tmp_path / "repo").mkdir()
    result = CliRunner().invoke(app, ["render", str(tmp_path), "--root", str(tmp_path / "repo")])
    assert result.exit_code == 2
    assert "is not inside the root" in result.stderr
