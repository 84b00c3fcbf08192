"""Loaders for the openb node inventories and task traces (Alibaba GPU trace 2023).

Every row is checked; a bad one stops the load with one line naming file, line and
field, so a simulation never runs on silently mangled data.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from quarterdeck.placement.model import NodeSpec, PlacementError, Request

NODE_COLUMNS = ("sn", "cpu_milli", "memory_mib", "gpu", "model")
TASK_COLUMNS = ("name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli")


class TraceError(ValueError):
    """A trace or node file that cannot be used as it is."""


@dataclass(frozen=True, slots=True)
class Task:
    """One traced pod: what it asks for and when it lived (seconds; None if not traced)."""

    name: str
    request: Request
    qos: str = ""
    creation_time: int | None = None
    deletion_time: int | None = None
    scheduled_time: int | None = None

    @property
    def duration(self) -> int | None:
        """How long the pod ran once started (deletion minus start)."""
        if self.deletion_time is None:
            return None
        start = self.scheduled_time or self.creation_time or 0
        return max(self.deletion_time - start, 0)


def _rows(path: Path, required: Iterable[str]) -> Iterable[tuple[int, dict[str, str]]]:
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as err:
        raise TraceError(f"{path}: cannot read: {err.strerror}") from err
    with handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        missing = [c for c in required if c not in header]
        if missing:
            raise TraceError(f"{path}:1: missing column(s) {', '.join(missing)}")
        for row in reader:
            if None in row or any(v is None for v in row.values()):
                raise TraceError(f"{path}:{reader.line_num}: expected {len(header)} fields")
            yield reader.line_num, row


def _int(path: Path, line: int, row: dict[str, str], field: str, optional: bool = False) -> int:
    raw = row.get(field, "").strip()
    if optional and raw == "":
        return -1
    try:
        value = int(raw)
    except ValueError:
        raise TraceError(f"{path}:{line}: field {field}: not an integer: {raw!r}") from None
    if value < 0:
        raise TraceError(f"{path}:{line}: field {field}: negative value {value}")
    return value


def load_nodes(path: Path) -> list[NodeSpec]:
    """GPU nodes from an `openb_node_list_*.csv` file; names must be unique."""
    nodes: list[NodeSpec] = []
    seen: dict[str, int] = {}
    for line, row in _rows(path, NODE_COLUMNS):
        name = row["sn"].strip()
        if not name:
            raise TraceError(f"{path}:{line}: field sn: empty node name")
        if name in seen:
            raise TraceError(
                f"{path}:{line}: field sn: duplicate node {name!r} (line {seen[name]})"
            )
        seen[name] = line
        gpus = _int(path, line, row, "gpu")
        model = row["model"].strip()
        if gpus and not model:
            raise TraceError(f"{path}:{line}: field model: a node with GPUs needs a model")
        nodes.append(
            NodeSpec(
                name=name,
                cpu_milli=_int(path, line, row, "cpu_milli"),
                memory_mib=_int(path, line, row, "memory_mib"),
                gpu_count=gpus,
                gpu_model=model if gpus else "",
            )
        )
    if not nodes:
        raise TraceError(f"{path}: no nodes")
    return nodes


def load_tasks(path: Path, known_models: Iterable[str] | None = None) -> list[Task]:
    """Tasks from an `openb_pod_list_*.csv` file.

    `known_models` (e.g. the models of the node inventory) makes a `gpu_spec` naming any
    other model an error rather than a task that silently never fits.
    """
    known = None if known_models is None else frozenset(known_models)
    tasks: list[Task] = []
    for line, row in _rows(path, TASK_COLUMNS):
        spec = frozenset(m.strip() for m in row.get("gpu_spec", "").split("|") if m.strip())
        if known is not None and not spec <= known:
            bad = ", ".join(sorted(spec - known))
            raise TraceError(f"{path}:{line}: field gpu_spec: unknown GPU model(s) {bad}")
        count = _int(path, line, row, "num_gpu")
        milli = _int(path, line, row, "gpu_milli")
        try:
            request = Request(
                cpu_milli=_int(path, line, row, "cpu_milli"),
                memory_mib=_int(path, line, row, "memory_mib"),
                gpu_count=count,
                gpu_milli=milli,
                gpu_models=spec if count else frozenset(),
            )
        except PlacementError as err:
            raise TraceError(f"{path}:{line}: fields num_gpu/gpu_milli: {err}") from None
        times = [_int(path, line, row, f, optional=True) for f in _TIME_FIELDS]
        created, deleted, scheduled = (t if t >= 0 else None for t in times)
        tasks.append(
            Task(
                row["name"].strip(),
                request,
                row.get("qos", "").strip(),
                created,
                deleted,
                scheduled,
            )
        )
    if not tasks:
        raise TraceError(f"{path}: no tasks")
    return tasks


_TIME_FIELDS = ("creation_time", "deletion_time", "scheduled_time")
