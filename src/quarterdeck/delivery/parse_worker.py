"""Parse manifests in a child process under a memory and a time limit.

kyaml bounds aliases, depth and size, but a hostile plain-YAML commit within those
bounds can still cost the operator hundreds of MiB of Python objects, and a parser
bug could crash it. The operator therefore parses in long-lived worker processes
(``python -m quarterdeck.delivery.parse_worker``) that set RLIMIT_AS on
themselves: a text that needs more memory, takes longer than the time limit or
kills its worker fails only its own Application (a RenderError naming the file),
and the worker is started again. Workers are reused, so a sync pays one pipe round
trip, not a Python start-up. Results travel as msgpack (never pickle: a child that
parsed hostile input is not trusted to send code).
"""

from __future__ import annotations

import collections
import hashlib
import os
import queue
import select
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

import msgspec

from quarterdeck.kyaml import LIMITS, Limits

_FRAME = struct.Struct(">I")
MAX_RESULT_BYTES = 512 << 20  # a reply larger than this is refused
OUT_OF_MEMORY = 3  # the worker's exit status after a MemoryError
MEMORY_REASON = "it needs more than the memory limit"
REMEMBERED = 256  # texts that exhausted a worker's memory, refused at once when seen again
START_TIMEOUT = 120.0  # seconds a new worker may take to import and say it is ready


class WorkerFailed(Exception):
    """The worker ran out of memory or time, or died; the message says which."""


def _send(stream: Any, payload: bytes) -> None:
    stream.write(_FRAME.pack(len(payload)) + payload)
    stream.flush()


def _read_exactly(fd: int, n: int, deadline: float) -> bytes:
    """``n`` bytes from ``fd`` before ``deadline`` (monotonic); WorkerFailed otherwise."""
    chunks, got = [], 0
    while got < n:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise WorkerFailed("took longer than the time limit")
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            raise WorkerFailed("its worker process died")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _exit_status(proc: subprocess.Popen[bytes]) -> int | None:
    """The exit status of a worker whose pipe closed (it is exiting), or None."""
    try:
        return proc.wait(2.0)
    except subprocess.TimeoutExpired:
        return None


class Worker:
    """One child process; not thread-safe (the pool hands it to one caller at a time)."""

    def __init__(self, max_memory: int) -> None:
        self.max_memory = max_memory
        self.proc: subprocess.Popen[bytes] | None = None

    def _start(self) -> subprocess.Popen[bytes]:
        """The running worker, started (and waited for until it is ready) if need be.

        A parse's time limit starts only once its worker is ready: a worker restarted
        after a hostile text (a Python start-up, seconds on a loaded machine) must not
        cost the next, innocent Application its time limit."""
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "quarterdeck.delivery.parse_worker", str(self.max_memory)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                close_fds=True,
            )
            assert self.proc.stdout is not None
            try:
                fd, deadline = self.proc.stdout.fileno(), time.monotonic() + START_TIMEOUT
                (size,) = _FRAME.unpack(_read_exactly(fd, _FRAME.size, deadline))
            except WorkerFailed as err:
                self.stop()
                raise WorkerFailed(f"its worker did not start: {err}") from None
            if size != 0:  # the ready frame is empty
                self.stop()
                raise WorkerFailed("its worker did not start: it sent no ready frame")
        return self.proc

    def call(self, text: bytes, origin: str, limits: Limits, timeout: float) -> Any:
        """The worker's reply to one parse; WorkerFailed (worker restarted) otherwise."""
        proc = self._start()
        assert proc.stdin is not None and proc.stdout is not None
        request = msgspec.msgpack.encode({"text": text, "origin": origin, "limits": asdict(limits)})
        deadline = time.monotonic() + timeout
        try:
            _send(proc.stdin, request)
            fd = proc.stdout.fileno()
            (size,) = _FRAME.unpack(_read_exactly(fd, _FRAME.size, deadline))
            if size > MAX_RESULT_BYTES:
                raise WorkerFailed(f"its result is over {MAX_RESULT_BYTES} bytes")
            return msgspec.msgpack.decode(_read_exactly(fd, size, deadline))
        except (WorkerFailed, OSError, msgspec.DecodeError) as err:
            reason = str(err) if isinstance(err, WorkerFailed) else "its worker process died"
            if reason == "its worker process died" and _exit_status(proc) == OUT_OF_MEMORY:
                reason = f"{MEMORY_REASON} ({self.max_memory >> 20} MiB)"
            self.stop()
            raise WorkerFailed(reason) from None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


class ParsePool:
    """A few reusable workers; ``parse`` blocks until one is free.

    A text that ran its worker out of memory is remembered (by digest) and refused at
    once when it comes again: a hostile commit retried by its Application costs one
    worker restart, not one per retry. Time-outs are not remembered, since load can
    cause them; neither is anything else that may succeed another time.
    """

    def __init__(self, size: int = 2, max_memory: int = 1 << 30, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self.max_memory = max_memory
        self._exhausting: collections.OrderedDict[bytes, str] = collections.OrderedDict()
        self._free: queue.Queue[Worker] = queue.Queue()
        for _ in range(size):
            self._free.put(Worker(max_memory))
        self._all = list(self._free.queue)
        self._lock = threading.Lock()

    @contextmanager
    def _worker(self) -> Iterator[Worker]:
        worker = self._free.get()
        try:
            yield worker
        finally:
            self._free.put(worker)

    def parse(
        self, text: str | bytes, origin: str, limits: Limits = LIMITS
    ) -> list[tuple[Any, str]]:
        """(object, origin) pairs of ``text``, as ``manifests.parse_documents`` gives them.

        Raises ManifestError for what the parser refuses, and ManifestError naming the
        file when the worker ran out of memory or time or died.
        """
        from quarterdeck.delivery.manifests import ManifestError

        data = text.encode() if isinstance(text, str) else text
        digest = hashlib.sha256(repr(limits).encode() + b"\0" + data).digest()
        with self._lock:
            known = self._exhausting.get(digest)
        if known is not None:
            raise ManifestError(f"{origin}: parsing stopped: {known}")
        with self._worker() as worker:
            try:
                reply = worker.call(data, origin, limits, self.timeout)
            except WorkerFailed as err:
                if str(err).startswith(MEMORY_REASON):
                    self._remember(digest, str(err))
                raise ManifestError(f"{origin}: parsing stopped: {err}") from None
        if "error" in reply:
            raise ManifestError(str(reply["error"]))
        return [(obj, str(where)) for obj, where in reply["ok"]]

    def _remember(self, digest: bytes, reason: str) -> None:
        with self._lock:
            self._exhausting[digest] = reason
            while len(self._exhausting) > REMEMBERED:
                self._exhausting.popitem(last=False)

    def close(self) -> None:
        for worker in self._all:
            worker.stop()


def _serve(max_memory: int) -> None:
    """The child: set the memory limit, then answer parse requests until stdin closes."""
    import resource

    from quarterdeck.delivery.manifests import ManifestError, parse_here

    resource.setrlimit(resource.RLIMIT_AS, (max_memory, max_memory))
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    _send(stdout, b"")  # ready: imported and limited; the parent's clock starts now
    while header := stdin.read(_FRAME.size):
        (size,) = _FRAME.unpack(header)
        request = msgspec.msgpack.decode(stdin.read(size))
        limits = Limits(**request["limits"])
        try:
            found = parse_here(request["text"], request["origin"], limits)
            reply: dict[str, Any] = {"ok": [(m.obj, m.origin) for m in found]}
            payload = msgspec.msgpack.encode(reply)
        except ManifestError as err:
            payload = msgspec.msgpack.encode({"error": str(err)})
        except MemoryError:
            os._exit(OUT_OF_MEMORY)  # the parent reports it and starts a fresh worker
        except OverflowError:  # an integer msgpack cannot carry
            payload = msgspec.msgpack.encode(
                {"error": f"{request['origin']}: an integer is out of range"}
            )
        _send(stdout, payload)


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
