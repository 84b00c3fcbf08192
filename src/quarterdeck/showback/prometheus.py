"""Reading GPU utilisation from Prometheus (dcgm-exporter's metrics): the one HTTP client.

One instant query per controller pass: each pod's mean `DCGM_FI_DEV_GPU_UTIL` over its
GPUs. `None` means Prometheus could not be read; the caller then accounts from the
cluster alone (GPU-hours allocated, utilisation unmeasured) and says so.
"""

from __future__ import annotations

import httpx

QUERY = 'avg by (namespace, pod) (DCGM_FI_DEV_GPU_UTIL{pod!=""})'


class PrometheusSource:
    def __init__(self, url: str, timeout: float = 3.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.error = ""  # why the last read failed ("" when it worked)

    def utilisation(self) -> dict[tuple[str, str], float] | None:
        try:
            response = httpx.get(
                f"{self.url}/api/v1/query", params={"query": QUERY}, timeout=self.timeout
            )
            body = response.json()
            if response.status_code != 200 or body.get("status") != "success":
                raise ValueError(body.get("error") or f"HTTP {response.status_code}")
            out = {
                (r["metric"].get("namespace", ""), r["metric"].get("pod", "")): float(r["value"][1])
                for r in body["data"]["result"]
            }
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as err:
            self.error = f"Prometheus at {self.url} unreachable: {err}"
            return None
        self.error = ""
        return out
