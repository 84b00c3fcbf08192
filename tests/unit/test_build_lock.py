"""One build of a target at a time on a machine, and no second build after waiting.

The other builder is a real second process holding the lock file, as a concurrent
`qd dev up` or benchmark would.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from quarterdeck.devcluster import cache
from quarterdeck.devcluster.gocommand import GoCommand, ensure_command

COMMAND = GoCommand("tool", "example.com/tool", "v1.0.0", "example.com/tool/cmd/tool")

# Holds the build lock, says "held", and on a line from stdin optionally lands the binary
# (as a finished build would) and exits, which releases the lock.
HOLDER = textwrap.dedent(
    """
    import fcntl, sys
    from pathlib import Path
    lock, binary = Path(sys.argv[1]), Path(sys.argv[2])
    lock.parent.mkdir(parents=True, exist_ok=True)
    f = lock.open("a")
    fcntl.flock(f, fcntl.LOCK_EX)
    print("held", flush=True)
    if sys.stdin.readline().strip() == "land":
        from quarterdeck.devcluster import cache
        binary.parent.mkdir(parents=True, exist_ok=True)
        binary.write_text("#!/bin/sh\\n")
        binary.chmod(0o755)
        cache.record(binary)
    """
)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("QD_HOME", str(tmp_path))
    return tmp_path


def _holder(home: Path) -> subprocess.Popen[str]:
    lock = home / "build" / f"{COMMAND.name}-{COMMAND.version}.lock"
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lock), str(COMMAND.path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def _release(proc: subprocess.Popen[str], line: str) -> None:
    assert proc.stdin is not None
    proc.stdin.write(line + "\n")
    proc.stdin.close()


def test_a_second_caller_waits_for_the_lock_and_says_so(home: Path) -> None:
    proc = _holder(home)
    waits: list[str] = []

    def on_wait() -> None:
        waits.append("waiting")
        _release(proc, "go")

    with cache.build_lock(f"{COMMAND.name}-{COMMAND.version}", on_wait):
        assert proc.wait(timeout=30) == 0
    assert waits == ["waiting"]


def test_the_lock_is_free_without_a_wait_when_nobody_builds(home: Path) -> None:
    def on_wait() -> None:
        raise AssertionError("nobody else holds the lock")

    with cache.build_lock("nobody", on_wait):
        pass
    with cache.build_lock("nobody", on_wait):
        pass


def test_a_command_built_while_waiting_is_taken_from_the_cache_not_built_again(
    home: Path,
) -> None:
    proc = _holder(home)
    steps: list[str] = []

    def progress(step: str, done: int, total: int | None) -> None:
        steps.append(step)
        if step.endswith("waiting for another build"):
            _release(proc, "land")
            proc.wait(timeout=30)

    assert ensure_command(COMMAND, progress) == COMMAND.path
    # No "resolving modules": the go toolchain was never asked to build it again.
    assert steps == ["tool v1.0.0: waiting for another build"]
