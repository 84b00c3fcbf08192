"""A real Prometheus server (Debian's `prometheus`, 2.42) for a dev cluster, on loopback.

`start(root, kubeconfig)` runs, in the directory `root`, the dcgm-format GPU metrics
source for the cluster's fake GPUs (`devcluster.dcgm`) and a Prometheus that scrapes
it, each on a free loopback port with its own data directory; `stop(root)` ends both.
A dev cluster's Prometheus lives in `<cluster>/prometheus/` (`start_for(name)`), so
`qd dev down` stops it with the cluster. More scrape targets (the operator's
`/metrics`) are added with `add_target` through a file_sd file, without a restart.

Prometheus itself is installed by `scripts/system-packages.sh` (run by `make install`).
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from quarterdeck.devcluster import ports, process, readiness

SCRAPE_INTERVAL = "1s"  # short, so tests see a change within seconds; loopback only


class PrometheusError(RuntimeError):
    """Prometheus could not be found, started or reached; the message says what to do."""


@dataclass(frozen=True)
class PrometheusState:
    root: str
    port: int
    dcgm_port: int
    prometheus: process.ProcessRef
    dcgm: process.ProcessRef

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def binary() -> Path:
    found = shutil.which("prometheus") or (
        "/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None
    )
    if found is None:
        raise PrometheusError(
            "prometheus is not installed: run `make install` (scripts/system-packages.sh)"
        )
    return Path(found)


def _state_file(root: Path) -> Path:
    return root / "state.json"


def load(root: Path) -> PrometheusState | None:
    try:
        data = json.loads(_state_file(root).read_text())
        return PrometheusState(
            root=data["root"],
            port=data["port"],
            dcgm_port=data["dcgm_port"],
            prometheus=process.ProcessRef(**data["prometheus"]),
            dcgm=process.ProcessRef(**data["dcgm"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def config(
    dcgm_port: int, targets_file: Path, interval: str = SCRAPE_INTERVAL
) -> dict[str, object]:
    """The scrape configuration: the GPU metrics source plus file_sd targets."""
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": [
            {"job_name": "dcgm", "static_configs": [{"targets": [f"127.0.0.1:{dcgm_port}"]}]},
            {
                "job_name": "quarterdeck",
                "file_sd_configs": [{"files": [str(targets_file)], "refresh_interval": "1s"}],
            },
        ],
    }


def start(
    root: Path,
    kubeconfig: Path,
    clock_file: Path | None = None,
    interval: str = SCRAPE_INTERVAL,
    timeout: float = 60.0,
) -> PrometheusState:
    """Start the GPU metrics source and Prometheus in `root`; returns once both serve."""
    if (running := load(root)) is not None and process.alive(running.prometheus):
        return running
    prom = binary()
    root.mkdir(parents=True, exist_ok=True)
    (root / "data").mkdir(exist_ok=True)
    targets = root / "targets.json"
    if not targets.exists():
        targets.write_text("[]")
    port, dcgm_port = ports.free_ports(2)
    (root / "prometheus.yml").write_text(yaml.safe_dump(config(dcgm_port, targets, interval)))
    clock = ["--clock-file", str(clock_file)] if clock_file is not None else []
    started: list[process.ProcessRef] = []
    try:
        dcgm = process.spawn(
            [
                sys.executable,
                "-m",
                "quarterdeck.devcluster.dcgm",
                "--kubeconfig",
                str(kubeconfig),
                "--port",
                str(dcgm_port),
                *clock,
            ],
            root / "dcgm.log",
            root,
        )
        started.append(dcgm)
        server = process.spawn(
            [
                str(prom),
                f"--config.file={root / 'prometheus.yml'}",
                f"--storage.tsdb.path={root / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--storage.tsdb.retention.time=2d",
                "--web.enable-lifecycle",
            ],
            root / "prometheus.log",
            root,
        )
        started.append(server)

        def died() -> str | None:
            for what, ref, log in (
                ("dcgm source", dcgm, "dcgm.log"),
                ("prometheus", server, "prometheus.log"),
            ):
                if not process.alive(ref):
                    return f"{what} exited during start-up:\n{process.tail(root / log)}"
            return None

        readiness.wait_until(
            lambda: readiness.http_ok(f"http://127.0.0.1:{dcgm_port}/metrics"),
            "dcgm source",
            timeout,
            died,
        )
        readiness.wait_until(
            lambda: readiness.http_ok(f"http://127.0.0.1:{port}/-/ready"),
            "prometheus",
            timeout,
            died,
        )
    except BaseException:
        for ref in reversed(started):
            process.stop(ref)
        raise
    st = PrometheusState(str(root), port, dcgm_port, server, dcgm)
    tmp = _state_file(root).with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(st), indent=2))
    tmp.replace(_state_file(root))
    return st


def add_target(root: Path, address: str, labels: dict[str, str] | None = None) -> None:
    """Scrape `address` (host:port, /metrics) too; Prometheus picks it up within a second."""
    targets = root / "targets.json"
    current = json.loads(targets.read_text()) if targets.exists() else []
    current.append({"targets": [address], "labels": labels or {}})
    tmp = targets.with_suffix(".tmp")
    tmp.write_text(json.dumps(current))
    tmp.replace(targets)


def stop(root: Path) -> bool:
    """Stop what `start` started in `root`; False when nothing was running there."""
    st = load(root)
    if st is None:
        return False
    process.stop(st.prometheus)
    process.stop(st.dcgm)
    _state_file(root).unlink(missing_ok=True)
    return True


# --- a dev cluster's own Prometheus ---------------------------------------------------


def root_for(cluster_root: Path) -> Path:
    return cluster_root / "prometheus"


def start_for(name: str, clock_file: Path | None = None) -> PrometheusState:
    """The Prometheus of dev cluster `name` (started if it is not running)."""
    from quarterdeck.devcluster import cluster

    layout, _ = cluster.require_running(name)
    return start(root_for(layout.root), layout.kubeconfig, clock_file)


def stop_with_cluster(cluster_root: Path) -> None:
    """The hook `qd dev down` calls: a cluster's Prometheus goes with it."""
    stop(root_for(cluster_root))
