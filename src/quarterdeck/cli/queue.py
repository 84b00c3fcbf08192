"""`qd queue`: offline simulation over manifests and the CRDs; live commands are in
`queue_cluster.py` (list, pending, why, reconcile).

`simulate` runs one cycle of the same pure code the controller runs over manifest
files and optional Node manifests, and prints admit / preempt / pending and why.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from quarterdeck.cli.output import OUTPUT_OPTION, Cell, OutputFormat, emit, fail, table

if TYPE_CHECKING:
    from quarterdeck.api.queueing.manifests import QueueingObject
    from quarterdeck.queueing import Decisions, Node
    from quarterdeck.queueing.dra import ClaimDevices, ClaimKey

app = typer.Typer(
    help="Kueue-shaped GPU admission: queues, quotas, why pending.", no_args_is_help=True
)

CLAIM_KINDS = ("ResourceClaimTemplate", "ResourceClaim")
FilesArgument = Annotated[
    list[Path], typer.Argument(help="YAML manifests (queueing kinds, Kueue kinds, Nodes).")
]


@app.command()
def simulate(
    files: FilesArgument,
    fair_sharing: Annotated[
        bool, typer.Option("--fair-sharing", help="Order and preempt by dominant share.")
    ] = False,
    placement: Annotated[
        bool,
        typer.Option(
            "--placement/--no-placement",
            help="Admit only gangs that fit on the given Nodes (default when Nodes are given).",
        ),
    ] = True,
    policy: Annotated[
        str, typer.Option("--policy", help="Placement scorer: bestfit, packing, clustering, ...")
    ] = "bestfit",
    config: Annotated[
        Path | None,
        typer.Option(
            help="A QueueingConfig file, as the operator reads it: its placement policy, "
            "fair sharing and DeviceClass map override --policy and --fair-sharing."
        ),
    ] = None,
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Run one admission cycle over manifests and show admit / preempt / pending and why.

    ResourceClaimTemplates and ResourceClaims among the files are charged as the
    operator charges them (`spec.deviceClasses` of the config)."""
    from quarterdeck.queueing import GpuPlacer, cycle, snapshot_from_objects
    from quarterdeck.queueing.config import (
        DEFAULT,
        ConfigError,
        configure,
        load_config_file,
        placer_from,
    )

    try:
        loaded = load_config_file(config) if config is not None else None
    except ConfigError as err:
        fail(str(err))
    objects, nodes, claims = _load(files)
    snapshot = snapshot_from_objects(
        objects,
        nodes=nodes,
        fair_sharing=fair_sharing,
        claims=claims,
        device_classes=(loaded or DEFAULT).device_classes,
    )
    use_placer = placement and bool(nodes)
    placer = None
    if loaded is not None:
        snapshot = configure(snapshot, loaded)
        placer = placer_from(loaded) if use_placer else None
    elif use_placer:
        placer = GpuPlacer(policy)
    decisions = cycle(snapshot, placer=placer)
    if emit(decisions.to_data(), output):
        return
    _table(decisions, placed=use_placer)


@app.command()
def crds(output: OutputFormat = OUTPUT_OPTION) -> None:
    """Print the queueing.quarterdeck.dev CRDs (`-o yaml` to apply them)."""
    from quarterdeck.api.queueing import all_crds

    docs = all_crds()
    if output is OutputFormat.yaml:
        from quarterdeck.cli.output import to_yaml_stream

        typer.echo(to_yaml_stream(docs).rstrip())
        return
    if emit(docs, output):
        return
    rows = []
    for c in docs:
        names = c["spec"]["names"]
        rows.append(
            [
                c["metadata"]["name"],
                names["kind"],
                c["spec"]["scope"],
                ",".join(names.get("shortNames", [])),
            ]
        )
    table(["name", "kind", "scope", "short names"], rows)


def _load(
    files: list[Path],
) -> tuple[list[QueueingObject], list[Node], dict[ClaimKey, ClaimDevices]]:
    from quarterdeck import kyaml
    from quarterdeck.api.queueing import load_documents
    from quarterdeck.api.queueing.manifests import ManifestError
    from quarterdeck.queueing.dra import ClaimError, claim_devices
    from quarterdeck.queueing.snapshot import node_from_object

    objects: list[QueueingObject] = []
    nodes: list[Node] = []
    claims: dict[ClaimKey, ClaimDevices] = {}
    try:
        for path in files:
            if path.is_dir():
                fail(f"{path} is a directory: give the YAML files in it")
            if not path.exists():
                fail(f"{path}: no such file")
            try:
                docs = kyaml.read_all(path)
            except kyaml.YAMLError as err:
                fail(str(err))
            for index, doc in enumerate(docs, start=1):
                where = f"{path}:{doc.line}: document {index}"
                if isinstance(doc.data, dict) and doc.data.get("kind") == "Node":
                    nodes.append(node_from_object(doc.data, where))
                    continue
                kind = doc.data.get("kind") if isinstance(doc.data, dict) else None
                if isinstance(doc.data, dict) and kind in CLAIM_KINDS:
                    meta = doc.data.get("metadata") or {}
                    spec = doc.data.get("spec") or {}
                    if kind == "ResourceClaimTemplate":
                        spec = spec.get("spec") or {}
                    key = (meta.get("namespace") or "default", kind, meta.get("name") or "")
                    try:
                        claims[key] = claim_devices(spec, f"{where}: {kind} {key[2]}")
                    except ClaimError as err:
                        fail(str(err))
                    continue
                try:
                    objects.extend(load_documents([doc.data], f"{path}:{doc.line}"))
                except ManifestError as err:
                    fail(_at_field_line(str(err), path, doc.line))
    except (ManifestError, ValueError) as err:
        fail(str(err))
    seen: set[tuple[str, str | None, str]] = set()
    for obj in objects:
        key = (obj.KIND, obj.metadata.namespace, obj.metadata.name)
        if key in seen:
            fail(f"duplicate {obj.KIND} {obj.metadata.name}")
        seen.add(key)
    return objects, nodes, claims


def _at_field_line(message: str, path: Path, start: int) -> str:
    """`path:LINE` of the field a manifest error names (`spec.cohrt: ...`), found from the
    document's first line on; the document's line when the field cannot be found."""
    import re

    named = re.search(r": ([A-Za-z0-9_.\[\]-]+): field not supported", message)
    if named is None:
        return message
    leaf = re.sub(r"\[\d+\]", "", named.group(1)).rsplit(".", 1)[-1]
    pattern = re.compile(rf"^\s*(- )?\s*{re.escape(leaf)}\s*:|[{{,]\s*{re.escape(leaf)}\s*:")
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    for number in range(max(start, 1), len(lines) + 1):
        if pattern.search(lines[number - 1]):
            return message.replace(f"{path}:{start}:", f"{path}:{number}:", 1)
    return message


def _table(d: Decisions, placed: bool) -> None:
    rows: list[list[str]] = []
    for a in d.admitted:
        flavors = ",".join(sorted({f for ps in a.pod_sets for f in ps.flavors.values()}))
        nodes = sorted({n for ps in a.pod_sets for n in (ps.nodes or {})})
        detail = ("borrows; " if a.borrows else "") + (f"nodes {','.join(nodes)}" if placed else "")
        rows.append(
            [a.workload.key, a.cluster_queue, Cell("[green]Admit[/]"), flavors, detail.strip("; ")]
        )
    for p in d.preempted:
        rows.append(
            [
                p.victim.workload.key,
                p.victim.workload.cluster_queue,
                Cell(f"[red]Preempt[/] ({_escape(p.reason)})"),
                "",
                p.message,
            ]
        )
    for q in d.pending:
        rows.append(
            [
                q.workload.key,
                q.workload.cluster_queue,
                Cell(f"[yellow]{_escape(q.reason)}[/]"),
                "",
                q.message,
            ]
        )
    table(["workload", "cluster queue", "decision", "flavors", "detail"], rows)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


from quarterdeck.cli.queue_cluster import register  # noqa: E402  (commands on a live cluster)

register(app)
