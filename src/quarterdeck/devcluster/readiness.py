"""Probes that tell when a freshly started component is ready to serve."""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable

import httpx

from quarterdeck.devcluster.layout import Layout


class NotReadyError(RuntimeError):
    """A component did not become ready in time or died while we waited."""


def admin_tls(layout: Layout) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(layout.pki_file("ca.crt")))
    ctx.load_cert_chain(str(layout.pki_file("admin.crt")), str(layout.pki_file("admin.key")))
    return ctx


def http_ok(url: str, verify: ssl.SSLContext | bool = True, timeout: float = 1.0) -> bool:
    try:
        return httpx.get(url, verify=verify, timeout=timeout).status_code == 200
    except (httpx.HTTPError, OSError):
        return False


def wait_until(
    check: Callable[[], bool],
    what: str,
    timeout: float,
    still_alive: Callable[[], str | None],
    interval: float = 0.1,
) -> None:
    """Poll `check` until it holds; fail early with the reason `still_alive` returns."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if (dead := still_alive()) is not None:
            raise NotReadyError(dead)
        time.sleep(interval)
    raise NotReadyError(f"{what} was not ready after {timeout:.0f}s")
