"""Benchmark: how long `qd --help`, `qd CMD --help` and Tab completion take to answer.

Each case runs `qd` in a fresh interpreter (the way a shell runs it) and is timed from
outside: CPU seconds (user + system, from the kernel's accounting of the finished child)
and wall seconds. With `--before REV` the `src/` of that git revision runs on the same
interpreter, alternating with the working tree's run by run, and the after/before ratio
is taken pair by pair, so a comparison holds while a shared machine's speed drifts.
Medians are printed with min and max, and the load average before and after: on a busy
machine wall time is the machine's queue, CPU time and the ratio are what to read.

    python bench/cli_startup.py [--runs 7] [--before REV] [--only help,complete]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: What the installed `qd` script runs.
RUN_QD = (
    "import sys; from quarterdeck.cli.main import app; sys.exit(app(sys.argv[1:], prog_name='qd'))"
)


@dataclass(frozen=True)
class Case:
    label: str
    args: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    code: str = RUN_QD


def _tab(line: str) -> Case:
    words = line.split(" ")
    env = {"_QD_COMPLETE": "complete_bash", "COMP_WORDS": line, "COMP_CWORD": str(len(words) - 1)}
    return Case(f"`{line}<TAB>` (bash)", (), env)


CASES = [
    Case("`python -c pass` (the floor)", (), code="pass"),
    Case("`import typer` (typer's own cost)", (), code="import typer"),
    Case("`qd --help`", ("--help",)),
    *(Case(f"`qd {c} --help`", (c, "--help")) for c in ("get", "sync", "check", "queue", "dev")),
    _tab("qd ge"),
    _tab("qd queue "),
    _tab("qd get -"),
    _tab("qd get ap"),
]


def _run(case: Case, src: Path) -> tuple[float, float]:
    """CPU and wall seconds of one run of `case` with quarterdeck imported from `src`."""
    env = {**os.environ, **case.env, "PYTHONPATH": str(src), "COLUMNS": "100"}
    start = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-c", case.code, *case.args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, _, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = 0  # reaped by wait4
    return usage.ru_utime + usage.ru_stime, wall


def _checkout(rev: str, into: Path) -> Path:
    """The `src/` of a git revision, unpacked under `into`."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, "src"], capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def _spread(values: list[float]) -> str:
    return f"{min(values):.3f} / {statistics.median(values):.3f} / {max(values):.3f}"


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="counted runs per case")
    parser.add_argument("--before", metavar="REV", help="also run this git revision's src/")
    parser.add_argument("--only", default="", help="comma-separated words a label must contain")
    opts = parser.parse_args()
    cases = [c for c in CASES if not opts.only or any(w in c.label for w in opts.only.split(","))]
    with tempfile.TemporaryDirectory() as tmp:
        sources = {"after": ROOT / "src"}
        if opts.before:
            sources = {"before": _checkout(opts.before, Path(tmp)), **sources}
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, runs {opts.runs}")
        print(f"load average (1/5/15 min) at start: {_load()}")
        head = "| case | " + " | ".join(f"{s} CPU s (min / median / max)" for s in sources)
        head += " | wall s (median, " + ", ".join(sources) + ") |"
        if opts.before:
            head += " after/before CPU (median of pairs) |"
        print(head)
        print("|" + "---|" * (head.count("|") - 1))
        for case in cases:
            for src in sources.values():  # one warm-up each: bytecode caches, page cache
                _run(case, src)
            cpu: dict[str, list[float]] = {s: [] for s in sources}
            wall: dict[str, list[float]] = {s: [] for s in sources}
            for _ in range(opts.runs):
                for name, src in sources.items():
                    c, w = _run(case, src)
                    cpu[name].append(c)
                    wall[name].append(w)
            row = f"| {case.label} | " + " | ".join(_spread(cpu[s]) for s in sources)
            row += " | " + " / ".join(f"{statistics.median(wall[s]):.2f}" for s in sources) + " |"
            if opts.before:
                pairs = [a / b for a, b in zip(cpu["after"], cpu["before"], strict=True) if b]
                row += f" {statistics.median(pairs):.2f} |"
            print(row, flush=True)
        print(f"load average (1/5/15 min) at end: {_load()}")


if __name__ == "__main__":
    main()
