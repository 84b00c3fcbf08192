"""Reads tried again when the API server says when to, as client-go (and kubectl) do.

A 429 or 5xx answer that carries Retry-After (`details.retryAfterSeconds`) means "come
back in N seconds": the storage of a CRD created a moment ago is still initializing
("storage is (re)initializing"), or the server is shedding load. client-go waits that long
and tries again, up to 10 times, so `kubectl get` right after `kubectl apply` of a CRD
works; `qd get` does the same. An answer without Retry-After is reported at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from quarterdeck.kube.errors import classify

T = TypeVar("T")

#: client-go's default maximum number of retries of one request
MAX_RETRIES = 10
#: never wait longer than this for one retry, whatever the server asks
LONGEST_WAIT = 10.0


def honoring_retry_after(
    call: Callable[[], T],
    sleep: Callable[[float], None] = time.sleep,
    max_retries: int = MAX_RETRIES,
) -> T:
    """`call()`, tried again after the server's Retry-After while it asks for one."""
    for attempt in range(max_retries + 1):
        try:
            return call()
        except Exception as err:
            typed = classify(err)
            wait = typed.retry_after if typed is not None and typed.retryable else None
            if wait is None or attempt == max_retries:
                raise
            sleep(min(wait, LONGEST_WAIT))
    raise AssertionError("unreachable: the last attempt returns or raises")
