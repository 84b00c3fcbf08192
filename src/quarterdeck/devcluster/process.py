"""Start, watch and stop the control-plane processes of a dev cluster.

Each process runs in its own session (so a signal to its group reaches its children),
logs to a file, and is identified by pid *and* kernel start time: a pid reused by an
unrelated process after a reboot or crash is never mistaken for ours, nor killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProcessRef:
    pid: int
    start_ticks: int  # field 22 of /proc/PID/stat: start time since boot, in clock ticks


def _start_ticks(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces; fields after the closing paren are plain.
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":  # a zombie is dead for our purposes
        return None
    return int(fields[19])


def spawn(cmd: list[str], log: Path, cwd: Path) -> ProcessRef:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            start_new_session=True,
        )
    ticks = _start_ticks(proc.pid)
    return ProcessRef(proc.pid, ticks if ticks is not None else -1)


def alive(ref: ProcessRef) -> bool:
    ticks = _start_ticks(ref.pid)
    if ticks is None:
        # Reap it if it is our child, so it does not linger as a zombie.
        with _ignore_child_errors():
            os.waitpid(ref.pid, os.WNOHANG)
        return False
    return ticks == ref.start_ticks


class _ignore_child_errors:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return exc[0] is ChildProcessError


def stop(ref: ProcessRef, grace_seconds: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL it if it has not gone after the grace period."""
    if not alive(ref):
        return
    try:
        os.killpg(ref.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline:
        if not alive(ref):
            return
        time.sleep(0.05)
    try:
        os.killpg(ref.pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    while alive(ref):
        time.sleep(0.05)


def tail(log: Path, lines: int = 20) -> str:
    """The last lines of a log file, for error messages."""
    try:
        with log.open("rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            text = f.read().decode(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])
