"""Finding the Alibaba openb trace on disk (`--nodes-from-trace openb`)."""

from __future__ import annotations

import os
from pathlib import Path

TRACE_DIRNAME = "alibaba-gpu-v2023"
NODE_FILE = "openb_node_list_gpu_node.csv"


def find_trace_dir(start: Path) -> Path | None:
    """$QD_TRACE_DIR, else the first `[shared/]data/alibaba-gpu-v2023` above `start`."""
    if env := os.environ.get("QD_TRACE_DIR"):
        return Path(env)
    for parent in [start, *start.parents]:
        for candidate in (
            parent / "shared" / "data" / TRACE_DIRNAME,
            parent / "data" / TRACE_DIRNAME,
        ):
            if candidate.is_dir():
                return candidate
    return None


def resolve_node_file(value: str, start: Path) -> Path:
    """`openb` means the trace's GPU node list; anything else is a path to a node CSV."""
    if value != "openb":
        return Path(value)
    found = find_trace_dir(start)
    if found is None:
        raise FileNotFoundError(
            f"cannot find the {TRACE_DIRNAME} trace: set QD_TRACE_DIR to its folder "
            "or pass the node CSV's path to --nodes-from-trace"
        )
    return found / NODE_FILE
