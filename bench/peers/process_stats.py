"""CPU and memory of a controller process, and the API server's request count.

Read from /proc (CPU seconds = utime + stime; peak RSS = VmHWM) and from the API
server's own `apiserver_request_total`, so both controllers are measured the same way
whatever language they are written in.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path

from lightkube import Client

_TICK = os.sysconf("SC_CLK_TCK")
_REQUESTS = re.compile(r"^apiserver_request_total\{([^}]*)\} (\S+)$", re.MULTILINE)
_LABELS = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class ProcessSample:
    cpu_s: float
    rss_mib: float
    peak_rss_mib: float


def sample(pid: int) -> ProcessSample:
    """CPU seconds used so far (its own and its waited-for children's, e.g. git), current
    and peak RSS of `pid` (Linux /proc)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    cpu = sum(int(f) for f in fields[11:15]) / _TICK  # utime, stime, cutime, cstime
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    rss = int(status["VmRSS"].split()[0]) / 1024
    peak = int(status["VmHWM"].split()[0]) / 1024
    return ProcessSample(cpu, rss, peak)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def api_requests(kube: Client) -> int:
    """Requests the API server has served since it started (every verb and resource)."""
    return sum(api_requests_by(kube).values())


def api_requests_by(kube: Client) -> dict[str, int]:
    """The same count by "VERB resource[/subresource]", to tell where requests go."""
    text = kube._client._client.get("/metrics").text
    out: dict[str, int] = {}
    for labels, value in _REQUESTS.findall(text):
        got = dict(_LABELS.findall(labels))
        sub = got.get("subresource")
        what = got.get("resource", "") + (f"/{sub}" if sub else "")
        key = f"{got.get('verb', '')} {what}"
        out[key] = out.get(key, 0) + int(float(value))
    return out


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])
