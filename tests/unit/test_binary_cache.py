"""A cached binary is only used when its checksum still matches."""

from __future__ import annotations

from pathlib import Path

import pytest

from quarterdeck.devcluster import cache
from quarterdeck.devcluster.versions import Component


@pytest.fixture
def qd_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("QD_HOME", str(tmp_path))
    return tmp_path


def _install(content: bytes) -> Path:
    path = cache.binary_path(Component.KWOK)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    path.chmod(0o755)
    cache.record(path)
    return path


def test_intact_binary_verifies(qd_home: Path) -> None:
    path = _install(b"\x7fELF binary")
    assert cache.verify(Component.KWOK) == path
    assert Component.KWOK not in cache.missing_components()


def test_corrupt_binary_is_refused_with_the_fix(qd_home: Path) -> None:
    path = _install(b"\x7fELF binary")
    path.write_bytes(b"\x7fELF bin")  # truncated after the build recorded it
    with pytest.raises(cache.CorruptBinaryError, match="qd dev build --force"):
        cache.verify(Component.KWOK)


def test_binary_without_checksum_counts_as_missing(qd_home: Path) -> None:
    path = cache.binary_path(Component.ETCD)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"half a download")
    assert Component.ETCD in cache.missing_components()


def test_missing_go_toolchain_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    from quarterdeck.devcluster import build

    monkeypatch.setenv("PATH", "")
    with pytest.raises(build.BuildError, match=r"Go toolchain not found.*qd dev build"):
        build.find_go()
