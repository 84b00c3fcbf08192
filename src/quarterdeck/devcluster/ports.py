"""Loopback ports: pick free ones, check a requested one, and check none is left behind."""

from __future__ import annotations

import contextlib
import socket


class PortInUseError(RuntimeError):
    """A port the cluster needs is taken by another process."""


def free_ports(count: int) -> list[int]:
    """`count` distinct ports the kernel says are free on 127.0.0.1 right now."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            s = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
        return ports


def is_listening(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts TCP connections on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def check_free(port: int, what: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            raise PortInUseError(
                f"port {port} on 127.0.0.1 ({what}) is already in use: "
                "stop whatever holds it or choose another port"
            ) from None
