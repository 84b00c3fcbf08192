"""Every `qd` command keeps the same manners (docs/cli.md): flags, formats, exit codes.

The command tree is walked, so a command added later is held to the same rules.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.core import TyperGroup, TyperOption
from typer.testing import CliRunner

from quarterdeck.cli.kinds import find_kind, headers, human_duration, json_path, row
from quarterdeck.cli.main import app
from quarterdeck.cli.output import plain_columns

FORMATS = {"table", "wide", "yaml", "json", "name", "csv"}


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, command
    if isinstance(command, TyperGroup):
        for name, sub in command.commands.items():
            yield from _commands(sub, (*path, name))


ROOT = typer.main.get_command(app)
COMMANDS = [(p, c) for p, c in _commands(ROOT) if p]


def _ids(item: tuple[tuple[str, ...], Any]) -> str:
    return " ".join(item[0])


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[_ids(c) for c in COMMANDS])
def test_every_command_has_help_without_type_noise(path: tuple[str, ...], command: Any) -> None:
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output
    assert "Traceback" not in result.output


def _options(command: Any) -> Iterator[TyperOption]:
    for param in command.params:
        if isinstance(param, TyperOption):
            yield param


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[_ids(c) for c in COMMANDS])
def test_short_flags_mean_one_thing_everywhere(path: tuple[str, ...], command: Any) -> None:
    for option in _options(command):
        if "-n" in option.opts:
            assert "--namespace" in option.opts, f"{' '.join(path)}: -n is {option.opts}"
        if "--namespace" in option.opts:
            assert "-n" in option.opts, f"{' '.join(path)}: --namespace without -n"
        if "-o" in option.opts:
            assert "--output" in option.opts
        if "-A" in option.opts:
            assert "--all-namespaces" in option.opts
        if "-w" in option.opts:
            assert "--watch" in option.opts


OUTPUT_COMMANDS = [(p, c) for p, c in COMMANDS if any("-o" in o.opts for o in _options(c))]


@pytest.mark.parametrize(
    ("path", "command"), OUTPUT_COMMANDS, ids=[_ids(c) for c in OUTPUT_COMMANDS]
)
def test_output_values_are_a_closed_set(path: tuple[str, ...], command: Any) -> None:
    (option,) = [o for o in _options(command) if "-o" in o.opts]
    choices = {str(getattr(c, "value", c)) for c in option.type_descriptor.choices or ()}
    assert choices, f"{' '.join(path)}: -o takes any string"
    assert choices <= FORMATS


@pytest.mark.parametrize(
    "args",
    [
        ["check", "x.yaml"],
        ["policy", "list"],
        ["get", "cq"],
        ["queue", "crds"],
        ["render", "."],
        ["diff", "--path", "."],
    ],
)
def test_unknown_output_format_is_refused_with_exit_2(args: list[str]) -> None:
    result = CliRunner().invoke(app, [*args, "-o", "bogus"])
    assert result.exit_code == 2
    assert "bogus" in result.output and "Traceback" not in result.output


def test_version_flag() -> None:
    from quarterdeck import __version__

    result = CliRunner().invoke(app, ["--version"])
    assert (result.exit_code, result.stdout.strip()) == (0, __version__)


def test_dev_and_demo_take_name_without_n() -> None:
    for path in (("dev", "up"), ("dev", "down"), ("dev", "status"), ("demo",)):
        command = ROOT
        for part in path:
            command = command.commands[part]
        names = [o for o in _options(command) if "--name" in o.opts]
        assert names and "-n" not in names[0].opts


def test_dev_default_name_matches_the_cluster_module() -> None:
    from quarterdeck.cli import dev
    from quarterdeck.devcluster import cluster

    assert dev.DEFAULT_NAME == cluster.DEFAULT_NAME


def test_piped_tables_keep_every_character() -> None:
    result = CliRunner().invoke(app, ["policy", "list"])
    assert result.exit_code == 0
    assert "…" not in result.stdout
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "CATEGORY", "SCOPE", "DESCRIPTION"]
    assert max(len(line) for line in lines) > 100  # not wrapped at 80 columns


def test_plain_columns_align_like_kubectl() -> None:
    text = plain_columns(["name", "ready"], [["a-very-long-name", "True"], ["b", "False"]])
    assert text.splitlines() == [
        "NAME               READY",
        "a-very-long-name   True",
        "b                  False",
    ]


@pytest.mark.parametrize(
    "args",
    [
        ["check", "nope.yaml"],
        ["import", "nope.yaml"],
        ["render", "nope"],
        ["queue", "simulate", "nope.yaml"],
        ["diff", "--path", "nope"],
        ["sync", "--path", "nope"],
    ],
)
def test_a_missing_path_is_named_with_exit_2(args: list[str]) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "nope" in result.stderr and "Errno" not in result.stderr
    assert "Traceback" not in result.output


def test_a_file_where_a_directory_is_wanted_says_so(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("kind: ConfigMap\n")
    result = CliRunner().invoke(app, ["render", str(tmp_path / "a.yaml")])
    assert result.exit_code == 2
    assert "is a file: give the directory" in result.stderr


@pytest.mark.parametrize("data", [b"kind: \xff\xfe\n", b"kind: a\x00\n"])
def test_binary_input_is_refused_naming_the_file(tmp_path: Path, data: bytes) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(data)
    for args in (["check", str(bad)], ["import", str(bad)], ["queue", "simulate", str(bad)],
                 ["render", str(tmp_path)]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert "bad.yaml" in result.stderr and "Traceback" not in result.output


def test_a_yaml_date_prints_as_json(tmp_path: Path) -> None:
    (tmp_path / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: d}\ndata: {day: 2001-12-14}\n"
    )
    result = CliRunner().invoke(app, ["render", str(tmp_path), "-o", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["items"][0]["data"]["day"] == "2001-12-14"


def test_quota_for_an_unknown_class_names_it(tmp_path: Path) -> None:
    nodes, trace = tmp_path / "nodes.csv", tmp_path / "trace.csv"
    nodes.write_text("sn,cpu_milli,memory_mib,gpu,model\nn0,32000,65536,2,T4\n")
    trace.write_text(
        "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,"
        "deletion_time,scheduled_time\nt0,1000,1024,1,1000,T4,LS,Running,0,10,0\n"
    )
    args = [
        "simulate",
        "replay",
        "--trace",
        str(trace),
        "--nodes",
        str(nodes),
        "--quota",
        "FOO=5",
        "--out",
        str(tmp_path / "out"),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "FOO" in result.stderr and "LS" in result.stderr


def test_yaml_and_json_reports_parse(tmp_path: Path) -> None:
    (tmp_path / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")
    for args in (
        ["check", str(tmp_path)],
        ["policy", "list"],
        ["queue", "crds"],
        ["render", str(tmp_path)],
    ):
        for fmt, load in (("json", json.loads), ("yaml", lambda t: list(yaml.safe_load_all(t)))):
            result = CliRunner().invoke(app, [*args, "-o", fmt])
            assert result.exit_code == 0, (args, fmt, result.output)
            assert load(result.stdout)


# --- the columns of `qd get` -------------------------------------------------------------


def _kinds() -> list[Any]:
    from quarterdeck.cli.get import owned_kinds

    return owned_kinds()


@pytest.mark.parametrize(
    ("typed", "plural"),
    [
        ("apps", "applications"),
        ("application", "applications"),
        ("qapp", "applications"),
        ("cq", "clusterqueues"),
        ("lq", "localqueues"),
        ("wl", "workloads"),
        ("rf", "resourceflavors"),
        ("cohorts", "cohorts"),
        ("gr", "guardrails"),
        ("sources", "sources"),
        ("ClusterQueue", "clusterqueues"),
        ("clusterqueues.queueing.quarterdeck.dev", "clusterqueues"),
    ],
)
def test_kinds_are_found_by_every_spelling(typed: str, plural: str) -> None:
    assert find_kind(_kinds(), typed).plural == plural


def test_an_unknown_kind_lists_the_known_ones() -> None:
    result = CliRunner().invoke(app, ["get", "pods"])
    assert result.exit_code == 2
    assert "unknown kind 'pods'" in result.stderr and "clusterqueues" in result.stderr


def test_columns_follow_the_crd_printer_columns() -> None:
    app_kind = find_kind(_kinds(), "apps")
    obj = {
        "metadata": {
            "name": "web",
            "namespace": "team",
            "creationTimestamp": "2026-01-01T00:00:00Z",
        },
        "status": {
            "lastAppliedRevision": "abc",
            "conditions": [{"type": "Ready", "status": "True", "message": "applied"}],
        },
    }
    now = datetime(2026, 1, 1, 0, 5, 30, tzinfo=UTC)
    assert headers(app_kind, wide=False, all_namespaces=True)[:2] == ["NAMESPACE", "NAME"]
    cells = dict(
        zip(
            headers(app_kind, wide=False, all_namespaces=False),
            row(app_kind, obj, now, wide=False, all_namespaces=False),
            strict=True,
        )
    )
    assert cells["NAME"] == "web" and cells["READY"] == "True" and cells["AGE"] == "5m30s"
    source = find_kind(_kinds(), "sources")
    assert "STATUS" not in headers(source, wide=False, all_namespaces=False)
    assert "STATUS" in headers(source, wide=True, all_namespaces=False)


def test_cluster_scoped_kinds_have_no_namespace_column() -> None:
    cq = find_kind(_kinds(), "cq")
    assert "NAMESPACE" not in headers(cq, wide=False, all_namespaces=True)


def test_json_path_subset() -> None:
    obj = {"a": {"b": [{"t": "x", "v": 1}, {"t": "y", "v": 2}]}}
    assert json_path(obj, '.a.b[?(@.t=="y")].v') == [2]
    assert json_path(obj, ".a.b[0].t") == ["x"]
    assert json_path(obj, ".a.b[*].v") == [1, 2]
    assert json_path(obj, ".a.missing") == []


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (5, "5s"),
        (119, "119s"),
        (125, "2m5s"),
        (600, "10m"),
        (3 * 3600 + 60, "3h1m"),
        (9 * 3600, "9h"),
        (50 * 3600, "2d2h"),
        (20 * 86400, "20d"),
        (800 * 86400, "2y70d"),
    ],
)
def test_ages_read_like_kubectl(seconds: int, text: str) -> None:
    assert human_duration(seconds) == text


# --- errors of the tools we run carry their cause ------------------------------------------

def test_git_errors_keep_the_cause_not_only_the_last_line(tmp_path: Path) -> None:
    import subprocess

    from quarterdeck.delivery.source import tool_reason

    done = subprocess.run(["git", "ls-remote", str(tmp_path / "nope")], capture_output=True,
                          text=True, check=False)
    assert done.returncode != 0
    reason = tool_reason(done.stderr)
    assert "does not appear to be a git repository" in reason
    assert "and the repository exists" not in reason


def test_kustomize_errors_keep_the_cause_and_mask_secrets(tmp_path: Path) -> None:
    from quarterdeck.delivery.render import Options, RenderError, render

    (tmp_path / "kustomization.yaml").write_text(
        "resources:\n- https://user:s3cret@127.0.0.1:1/x.git\n"  # nothing listens on port 1
    )
    with pytest.raises(RenderError) as caught:
        render(tmp_path, ".", Options(allow_remote_bases=True))
    message = str(caught.value)
    assert "kustomize failed: accumulating resources" in message
    assert "s3cret" not in message and "exit status 128" in message


def test_an_application_path_that_is_missing_or_a_file_says_which(tmp_path: Path) -> None:
    from quarterdeck.delivery.render import Options, RenderError, render

    (tmp_path / "a.yaml").write_text("kind: ConfigMap\n")
    with pytest.raises(RenderError, match="'nope' does not exist in the repository"):
        render(tmp_path, "nope", Options())
    with pytest.raises(RenderError, match=r"'a\.yaml' is a file: give the directory"):
        render(tmp_path, "a.yaml", Options())


@pytest.mark.parametrize(("typo", "line"), [
    ("  cohrt: all\n", 5), ("  queuingStrategy: StrictFIFO\n", 5),
])
def test_queue_manifest_typos_are_refused_with_field_and_line(
    tmp_path: Path, typo: str, line: int
) -> None:
    bad = tmp_path / "cq.yaml"
    bad.write_text(
        "apiVersion: queueing.quarterdeck.dev/v1alpha1\nkind: ClusterQueue\nmetadata: {name: q}\n"
        f"spec:\n{typo}  resourceGroups:\n  - coveredResources: [cpu]\n    flavors:\n"
        "    - name: f\n      resources: [{name: cpu, nominalQuota: 1, borowingLimit: 2}]\n"
    )
    result = CliRunner().invoke(app, ["queue", "simulate", str(bad)])
    assert result.exit_code == 2
    field = typo.split(":")[0].strip()
    assert f"{bad}:{line}: " in result.stderr and f"spec.{field}" in result.stderr
    bad.write_text(bad.read_text().replace(typo, ""))
    result = CliRunner().invoke(app, ["queue", "simulate", str(bad)])
    assert f"{bad}:9: " in result.stderr and "borowingLimit" in result.stderr


def test_terminal_tables_keep_brackets_and_never_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from quarterdeck.cli.output import table

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    monkeypatch.setattr("sys.stdout", screen)
    monkeypatch.setenv("COLUMNS", "40")
    long_name = "a-cluster-queue-name-longer-than-the-terminal"
    table(["name", "usage"], [[long_name, "h100 gpu [#####.....] 8/16"]])
    import re

    text = re.sub(r"\x1b\[[0-9;]*m", "", screen.getvalue())
    assert "[#####.....] 8/16" in text and "…" not in text
    for other in ("NAME", "USAGE", "h100 gpu", "[#####.....] 8/16"):
        text = text.replace(other, "")
    assert "".join(text.split()) == long_name  # folded over lines, every character kept
