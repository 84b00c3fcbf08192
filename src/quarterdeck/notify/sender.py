"""Sending notices: a bounded queue and one thread, off every reconcile path.

``Notifier.publish`` never blocks and never raises: it puts the notice on a bounded
queue (a full queue drops it, counted), so an endpoint that is down, slow or
refusing can delay nothing but other notices. The sending thread matches Alerts,
reads each Provider's Secret (address and signing key), spends a rate-limit token,
POSTs, and schedules failed sends again with backoff (``limits``).
"""

from __future__ import annotations

import base64
import heapq
import itertools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import httpx
import structlog

from quarterdeck.api.duration import parse_duration
from quarterdeck.api.notify import Alert, Provider
from quarterdeck.notify.limits import RateLimits, retry_delay, retryable
from quarterdeck.notify.matching import matching
from quarterdeck.notify.notice import Notice
from quarterdeck.notify.payload import render

log = structlog.get_logger("quarterdeck.notify")

#: (namespace, Secret name) -> its data, decoded; raises KeyError when it is missing.
SecretReader = Callable[[str, str], dict[str, str]]
#: The Alerts and Providers as they are now (from informers, or a list in tests).
Config = Callable[[], tuple[Sequence[Alert], Sequence[Provider]]]


@dataclass(order=True)
class _Send:
    due: float
    seq: int
    attempt: int = field(compare=False)
    provider: str = field(compare=False)  # namespace/name
    alert: Alert = field(compare=False)
    item: Notice = field(compare=False)


@dataclass
class Counts:
    """What happened to notices, for metrics and tests."""

    sent: int = 0
    failed: int = 0  # given up after the last attempt or refused (4xx)
    retried: int = 0
    rate_limited: int = 0
    dropped: int = 0  # the queue was full
    unmatched: int = 0


def secret_reader(client: object) -> SecretReader:
    """A SecretReader over a lightkube Client."""
    from lightkube import Client
    from lightkube.resources.core_v1 import Secret

    assert isinstance(client, Client)

    def read(namespace: str, name: str) -> dict[str, str]:
        secret = client.get(Secret, name, namespace=namespace)
        return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}

    return read


class Notifier:
    """Sends notices to the Providers of matching Alerts, in a thread of its own."""

    def __init__(
        self,
        config: Config,
        secrets: SecretReader,
        clock: Callable[[], float] = time.monotonic,
        max_queue: int = 1000,
    ) -> None:
        self.config = config
        self.secrets = secrets
        self.clock = clock
        self.max_queue = max_queue
        self.counts = Counts()
        self.limits = RateLimits()
        self._heap: list[_Send] = []
        self._incoming: list[Notice] = []
        self._cond = threading.Condition()
        self._seq = itertools.count()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._http = httpx.Client(trust_env=False, follow_redirects=False)

    # --- the side callers see ---------------------------------------------------------

    def publish(self, item: Notice) -> bool:
        """Queue ``item`` for sending; False when the queue was full (it is dropped)."""
        with self._cond:
            if len(self._incoming) + len(self._heap) >= self.max_queue:
                self.counts.dropped += 1
                return False
            self._incoming.append(item)
            self._cond.notify()
        return True

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="notify", daemon=True)
        self._thread.start()

    def stop(self, grace: float = 5.0) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(grace)
        self._http.close()

    def idle(self) -> bool:
        """Nothing queued or waiting for a retry."""
        with self._cond:
            return not self._incoming and not self._heap and not self._busy

    _busy = False

    # --- the sending thread -------------------------------------------------------------

    def run(self) -> None:
        while not self._stop.is_set():
            with self._cond:
                incoming, self._incoming = self._incoming, []
                now = self.clock()
                due = []
                while self._heap and self._heap[0].due <= now:
                    due.append(heapq.heappop(self._heap))
                if not incoming and not due:
                    wait = self._heap[0].due - now if self._heap else 1.0
                    self._cond.wait(timeout=max(0.01, min(wait, 1.0)))
                    continue
                self._busy = True
            try:
                for item in incoming:
                    self._fan_out(item)
                for send in due:
                    self._attempt(send)
            except Exception as err:  # never let one bad notice stop the thread
                log.warning("notification failed", error=str(err))
            finally:
                with self._cond:
                    self._busy = False

    def _fan_out(self, item: Notice) -> None:
        alerts, _ = self.config()
        found = matching(alerts, item)
        if not found:
            self.counts.unmatched += 1
        for alert in found:
            ref = alert.spec.provider_ref
            provider = f"{ref.namespace or alert.metadata.namespace}/{ref.name}"
            self._attempt(_Send(self.clock(), next(self._seq), 1, provider, alert, item))

    def _provider(self, key: str) -> Provider | None:
        _, providers = self.config()
        for p in providers:
            if f"{p.metadata.namespace}/{p.metadata.name}" == key:
                return p
        return None

    def _attempt(self, send: _Send) -> None:
        provider = self._provider(send.provider)
        if provider is None or provider.spec.suspend:
            self.counts.failed += provider is None
            return
        if send.attempt == 1 and not self.limits.allow(
            send.provider, provider.spec.rate, self.clock()
        ):
            self.counts.rate_limited += 1
            return
        status: int | None
        try:
            address, key = self._endpoint(provider)
            body, headers = render(provider.spec.type, send.item, send.alert.spec.summary, key)
            response = self._http.post(
                address,
                content=body,
                headers=headers,
                timeout=parse_duration(provider.spec.timeout),
            )
            status = response.status_code
            if status < 300:
                self.counts.sent += 1
                return
            reason = f"HTTP {status}"
        except httpx.HTTPError as err:
            status, reason = None, type(err).__name__
        except (KeyError, ValueError) as err:  # no Secret, no address, no key: not retried
            status, reason = 400, str(err)
        delay = retry_delay(send.attempt) if retryable(status) else None
        if delay is None:
            self.counts.failed += 1
            log.warning(
                "notification not delivered",
                provider=send.provider,
                event=send.item.event,
                subject=send.item.subject,
                attempts=send.attempt,
                reason=reason,
            )
            return
        self.counts.retried += 1
        with self._cond:
            heapq.heappush(
                self._heap,
                _Send(
                    self.clock() + delay,
                    next(self._seq),
                    send.attempt + 1,
                    send.provider,
                    send.alert,
                    send.item,
                ),
            )

    def _endpoint(self, provider: Provider) -> tuple[str, str]:
        """The address (the Secret's wins) and the signing key."""
        data: dict[str, str] = {}
        ref = provider.spec.secret_ref
        if ref is not None:
            try:
                data = self.secrets(ref.namespace or provider.metadata.namespace, ref.name)
            except Exception as err:
                raise KeyError(f"secret {ref.name}: {err}") from None
        address = data.get("address") or provider.spec.address
        if not address.startswith(("http://", "https://")):
            raise ValueError("provider has no http(s) address")
        return address, data.get("token", "")
