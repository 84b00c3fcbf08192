"""`qd showback`'s bad input: refused naming the option, before any cluster is read."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from quarterdeck.cli.main import app


@pytest.mark.parametrize("bad", ["7x", "", "0d", "2031-01-02T00:00:00Z,2031-01-01T00:00:00Z"])
def test_a_bad_window_is_refused_naming_the_option(bad: str) -> None:
    # no kubeconfig is given and none is read: the window is checked first
    result = CliRunner().invoke(app, ["showback", "--window", bad, "--kubeconfig", "/nonexistent"])
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: --window: {bad!r}" if bad else "error: --window: empty")
    assert "Traceback" not in result.output
