"""docs/tenancy.md's threat table names tests that exist: a renamed or deleted test
must not leave an attack looking covered."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).parents[2]


def named_tests() -> list[tuple[str, str]]:
    text = (ROOT / "docs" / "tenancy.md").read_text()
    table = text[text.index("## Threat table") :].split("\n## ", 1)[0]
    return re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", table)


def test_every_test_the_threat_table_names_exists() -> None:
    named = named_tests()
    assert len(named) > 40
    missing = []
    for path, name in named:
        file = ROOT / path
        tree = ast.parse(file.read_text()) if file.is_file() else ast.Module(body=[])
        defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        if name not in defined:
            missing.append(f"{path}::{name}")
    assert missing == []
