"""Where quarterdeck keeps built binaries and dev clusters, and how a cached binary is trusted.

Binaries are keyed by component and version, with a sidecar SHA-256 written after a
build succeeds; a binary whose checksum no longer matches (a truncated copy, a disk
error) is refused with the command that rebuilds it, never run.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from quarterdeck.devcluster.versions import PINS, Component


class CorruptBinaryError(RuntimeError):
    """A cached binary does not match the checksum recorded when it was built."""


def home() -> Path:
    """Root of quarterdeck's local state: `$QD_HOME`, else `$XDG_CACHE_HOME/quarterdeck`."""
    if env := os.environ.get("QD_HOME"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "quarterdeck"


def bin_dir() -> Path:
    return home() / "bin"


def clusters_dir() -> Path:
    return home() / "clusters"


def binary_path(component: Component) -> Path:
    return bin_dir() / f"{component.value}-{PINS[component].version}"


def _checksum_path(binary: Path) -> Path:
    return binary.with_name(binary.name + ".sha256")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def record(binary: Path) -> None:
    """Write the checksum sidecar of a freshly built binary."""
    _checksum_path(binary).write_text(file_sha256(binary) + "\n")


def is_cached(component: Component) -> bool:
    """True when the binary and its checksum sidecar both exist (not yet verified)."""
    return is_recorded(binary_path(component))


def verify(component: Component) -> Path:
    """Return the cached binary's path after checking its checksum; raise if it is corrupt."""
    path = binary_path(component)
    return verify_file(
        path,
        f"cached {component.value} {PINS[component].version} at {path} is corrupt "
        "(checksum mismatch): run `qd dev build --force` to rebuild it",
    )


def command_path(name: str, version: str) -> Path:
    """Where a command built from a pinned Go module lives: `bin/NAME-VERSION`."""
    return bin_dir() / f"{name}-{version}"


def is_recorded(path: Path) -> bool:
    """True when a binary and its checksum sidecar both exist (not yet verified)."""
    return path.is_file() and _checksum_path(path).is_file()


def verify_file(path: Path, corrupt_message: str) -> Path:
    """Return `path` after checking it against its sidecar; raise `corrupt_message` if not."""
    expected = _checksum_path(path).read_text().strip()
    if file_sha256(path) != expected or not os.access(path, os.X_OK):
        raise CorruptBinaryError(corrupt_message)
    return path


def missing_components() -> list[Component]:
    return [c for c in Component if not is_cached(c)]


@contextmanager
def build_lock(name: str, on_wait: Callable[[], None]) -> Iterator[None]:
    """Hold the one build of `name` on this machine; a second caller waits for the first.

    Two builds of one target share a work directory and its go.mod, so they must not
    run at once (two `qd dev up` in a fresh CI, or a benchmark beside a test run). The
    caller re-checks the cache after taking the lock: the first build may have landed.
    `on_wait` is called once when another process holds the lock.
    """
    path = home() / "build" / f"{name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            on_wait()
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
