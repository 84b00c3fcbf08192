"""Register fake nodes with the API server and wait until kwok reports them Ready."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from lightkube import ApiError
from lightkube.codecs import from_dict
from lightkube.resources.core_v1 import Node

from quarterdeck.devcluster.nodes import node_manifest
from quarterdeck.devcluster.pools import NodeSpec
from quarterdeck.kube.client import load_async_client

#: Called with (nodes done, nodes total).
Progress = Callable[[int, int], None]


def is_ready(node: Node) -> bool:
    conditions = (node.status.conditions if node.status else None) or []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)


async def _create_all(
    kubeconfig: Path, specs: Sequence[NodeSpec], progress: Progress, concurrency: int
) -> None:
    client = load_async_client(kubeconfig, field_manager="quarterdeck-devcluster")
    gate = asyncio.Semaphore(concurrency)
    done = 0

    async def create(spec: NodeSpec) -> None:
        nonlocal done
        async with gate:
            try:
                await client.create(from_dict(node_manifest(spec)))
            except ApiError as e:
                if e.status.code != 409:  # already there: a re-run of `up` on the same nodes
                    raise
        done += 1
        progress(done, len(specs))

    try:
        await asyncio.gather(*(create(s) for s in specs))
    finally:
        await client.close()


def create_nodes(
    kubeconfig: Path, specs: Sequence[NodeSpec], progress: Progress, concurrency: int = 48
) -> None:
    asyncio.run(_create_all(kubeconfig, specs, progress, concurrency))


async def _count_ready(kubeconfig: Path) -> tuple[int, int]:
    client = load_async_client(kubeconfig)
    try:
        nodes = [n async for n in client.list(Node, chunk_size=2000)]
    finally:
        await client.close()
    return sum(1 for n in nodes if is_ready(n)), len(nodes)


def wait_ready(
    kubeconfig: Path,
    expected: int,
    progress: Progress,
    timeout: float,
    still_alive: Callable[[], str | None],
) -> None:
    """Poll until `expected` nodes are Ready; fail early if a component died."""
    deadline = time.monotonic() + timeout
    while True:
        ready, _ = asyncio.run(_count_ready(kubeconfig))
        progress(min(ready, expected), expected)
        if ready >= expected:
            return
        if (dead := still_alive()) is not None:
            raise RuntimeError(dead)
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {ready} of {expected} nodes became Ready in {timeout:.0f}s")
        time.sleep(0.25)
