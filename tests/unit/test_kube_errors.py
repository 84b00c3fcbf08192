"""classify: lightkube ApiErrors (Status bodies as the API server sends them) and real httpx2
transport failures on loopback (a closed port, an untrusted TLS server) become typed errors."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2
import pytest
from lightkube import ApiError

from quarterdeck.devcluster import pki
from quarterdeck.kube.errors import (
    AlreadyExists,
    Conflict,
    Forbidden,
    Gone,
    ImmutableField,
    Invalid,
    KubeError,
    NotFound,
    ServerTimeout,
    TLSFailure,
    Unauthorized,
    Unreachable,
    classify,
)

SERVER = "https://127.0.0.1:6443"


def api_error(code: int, reason: str, message: str, **details: Any) -> ApiError:
    request = httpx2.Request("GET", f"{SERVER}/apis/batch/v1/namespaces/a/jobs/x")
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "code": code,
        "reason": reason,
        "message": message,
        "details": details,
    }
    return ApiError(request=request, response=httpx2.Response(code, json=body, request=request))


@pytest.mark.parametrize(
    ("code", "reason", "kind"),
    [
        (403, "Forbidden", Forbidden),
        (404, "NotFound", NotFound),
        (409, "Conflict", Conflict),
        (409, "AlreadyExists", AlreadyExists),
        (410, "Expired", Gone),
        (422, "Invalid", Invalid),
        (504, "Timeout", ServerTimeout),
        (500, "ServerTimeout", ServerTimeout),
    ],
)
def test_status_codes_and_reasons(code: int, reason: str, kind: type[KubeError]) -> None:
    err = classify(api_error(code, reason, 'jobs.batch "x" says no'), context="dev")
    assert type(err) is kind
    assert err.code == code and err.reason == reason and err.server == SERVER
    assert str(err).startswith(f'jobs.batch "x" says no (HTTP {code} {reason} from {SERVER})')
    assert str(err).endswith("(context dev)")
    assert err.exit_code == 2


def test_immutable_field_from_the_causes() -> None:
    err = classify(
        api_error(
            422,
            "Invalid",
            'Job.batch "x" is invalid: spec.template: Invalid value: ...: field is immutable',
            name="x",
            group="batch",
            kind="Job",
            causes=[
                {
                    "reason": "FieldValueInvalid",
                    "field": "spec.template",
                    "message": "Invalid value: ...: field is immutable",
                }
            ],
        )
    )
    assert isinstance(err, ImmutableField) and isinstance(err, Invalid)
    assert [c.field for c in err.causes] == ["spec.template"]
    assert str(err).endswith(": delete and recreate the object to change it")


def test_unauthorized_says_credentials_rejected_or_expired() -> None:
    err = classify(api_error(401, "Unauthorized", "Unauthorized"), context="prod")
    assert isinstance(err, Unauthorized)
    assert str(err) == (
        f"the cluster at {SERVER} refused the credentials (credentials rejected or expired): "
        "renew the token or certificate of the kubeconfig user (context prod)"
    )


def test_throttling_and_server_errors_are_retryable() -> None:
    throttled = classify(api_error(429, "TooManyRequests", "slow down", retryAfterSeconds=2))
    assert throttled is not None and throttled.retryable and throttled.retry_after == 2.0
    internal = classify(api_error(500, "InternalError", "etcd\nleader changed"))
    assert internal is not None and internal.retryable and "\n" not in str(internal)
    assert not classify(api_error(404, "NotFound", "gone")).retryable  # type: ignore[union-attr]


def test_a_status_without_request_from_a_watch() -> None:
    from lightkube.models.meta_v1 import Status

    err = classify(ApiError(status=Status(code=410, reason="Expired", message="too old")))
    assert isinstance(err, Gone) and err.server is None
    assert str(err) == "too old (HTTP 410 Expired)"


def test_other_exceptions_are_not_ours() -> None:
    assert classify(ValueError("x")) is None
    already = NotFound("x")
    assert classify(already, context="c") is already and already.context == "c"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_connection_refused_is_unreachable_in_one_line() -> None:
    port = closed_port()
    with pytest.raises(httpx2.ConnectError) as raised:
        httpx2.get(f"https://127.0.0.1:{port}/version")
    err = classify(raised.value, context="dev")
    assert isinstance(err, Unreachable) and err.exit_code == 3 and err.retryable
    assert str(err) == (
        f"cannot reach the cluster at https://127.0.0.1:{port} (connection refused): "
        "is it running? (context dev)"
    )


@pytest.fixture
def untrusted_tls_server(tmp_path: Path) -> Iterator[int]:
    """A loopback TLS server whose certificate is signed by a CA the client does not trust."""
    keys = pki.generate(datetime.now(UTC), "errors-test")
    (tmp_path / "c.pem").write_bytes(keys.serving.cert_pem)
    (tmp_path / "k.pem").write_bytes(keys.serving.key_pem)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        # The client gives up the handshake: that is the point.
        with conn, contextlib.suppress(ssl.SSLError, OSError):
            ctx.wrap_socket(conn, server_side=True).close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    listener.close()
    thread.join(timeout=10)


def test_untrusted_certificate_is_a_tls_failure(untrusted_tls_server: int) -> None:
    port = untrusted_tls_server
    with pytest.raises(httpx2.ConnectError) as raised:
        httpx2.get(f"https://127.0.0.1:{port}/version", verify=ssl.create_default_context())
    err = classify(raised.value, context="dev")
    assert isinstance(err, TLSFailure) and err.exit_code == 3
    assert str(err).startswith(
        f"cannot verify the TLS certificate of the cluster at https://127.0.0.1:{port} ("
    )
    assert "certificate" in (err.cause or "")
    assert str(err).endswith(
        "check the cluster's certificate-authority in the kubeconfig (context dev)"
    )


def test_a_read_waits_as_long_as_the_server_asks_then_gives_up_as_client_go() -> None:
    from quarterdeck.kube.retry_after import honoring_retry_after

    waits: list[float] = []
    answers = [api_error(429, "TooManyRequests", "storage is (re)initializing",
                         retryAfterSeconds=1)] * 2  # fmt: skip

    def call() -> str:
        if answers:
            raise answers.pop()
        return "listed"

    assert honoring_retry_after(call, sleep=waits.append) == "listed"
    assert waits == [1.0, 1.0]

    def throttled() -> str:
        raise api_error(429, "TooManyRequests", "slow down", retryAfterSeconds=2)

    with pytest.raises(ApiError):
        honoring_retry_after(throttled, sleep=waits.append, max_retries=3)
    assert waits == [1.0, 1.0, 2.0, 2.0, 2.0]
    with pytest.raises(ApiError):  # no Retry-After: reported at once
        honoring_retry_after(lambda: (_ for _ in ()).throw(api_error(404, "NotFound", "x")),
                             sleep=waits.append)  # fmt: skip
    assert len(waits) == 5
