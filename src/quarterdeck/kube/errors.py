"""Typed API errors, so callers branch on a class instead of matching message strings.

lightkube raises `ApiError` (a Status from the API server) and, under it, httpx2 raises
transport errors; `classify` turns either into one KubeError subclass that knows the server,
the cause, what to do (a hint), whether a retry can help and which exit code the CLI uses
(3 when the cluster cannot be reached, else 2). `str()` of each is one line:

    cannot reach the cluster at https://127.0.0.1:6443 (connection refused): is it running?
"""

from __future__ import annotations

import errno
import ssl
from dataclasses import dataclass
from typing import Any

import httpx2
from lightkube import ApiError

EXIT_ERROR = 2
EXIT_UNREACHABLE = 3


@dataclass(frozen=True)
class Cause:
    """One entry of a Status's details.causes (which field, and what is wrong with it)."""

    field: str
    message: str
    reason: str


class KubeError(Exception):
    """A failed call to an API server, in one line: what, (cause), hint, (context)."""

    exit_code = EXIT_ERROR
    #: True when the same call may succeed later without anyone changing anything.
    retryable = False
    hint: str | None = None

    def __init__(
        self,
        what: str,
        *,
        server: str | None = None,
        cause: str | None = None,
        hint: str | None = None,
        context: str | None = None,
        code: int | None = None,
        reason: str | None = None,
        causes: tuple[Cause, ...] = (),
        retry_after: float | None = None,
    ) -> None:
        super().__init__(what)
        self.what = _one_line(what)
        self.server = server
        self.cause = _one_line(cause) if cause else None
        if hint is not None:
            self.hint = hint
        self.context = context
        self.code = code
        self.reason = reason
        self.causes = causes
        self.retry_after = retry_after

    def __str__(self) -> str:
        line = self.what
        if self.cause:
            line += f" ({self.cause})"
        if self.hint:
            line += f": {self.hint}"
        if self.context:
            line += f" (context {self.context})"
        return line


class Unreachable(KubeError):
    """No answer: connection refused or reset, unknown host, timeout."""

    exit_code = EXIT_UNREACHABLE
    retryable = True
    hint = "is it running?"


class TLSFailure(KubeError):
    """The server's certificate is not trusted (or the TLS handshake failed)."""

    exit_code = EXIT_UNREACHABLE
    hint = "check the cluster's certificate-authority in the kubeconfig"


class Unauthorized(KubeError):
    """401: the server does not accept the credentials."""

    hint = "renew the token or certificate of the kubeconfig user"


class Forbidden(KubeError):
    """403: authenticated, but RBAC (or an admission policy) says no."""


class NotFound(KubeError):
    """404: the object (or its namespace, or its kind) does not exist.

    `api_missing` is True when it is the kind, not an object, that the server does not know
    (a CRD that is not installed): the server then names no object in the Status, or sends
    no Status at all (its router's plain "404 page not found").
    """

    api_missing = False


class Conflict(KubeError):
    """409: the object changed since it was read, or a field manager owns the field."""

    retryable = True


class AlreadyExists(KubeError):
    """409 AlreadyExists: create of a name that is taken."""


class Invalid(KubeError):
    """422: the object breaks validation; `causes` names the fields."""


class ImmutableField(Invalid):
    """422 where the server says "field is immutable": only delete and recreate can change it."""

    hint = "delete and recreate the object to change it"


class Gone(KubeError):
    """410: a watch or list resourceVersion is too old; relist."""

    retryable = True


class ServerTimeout(KubeError):
    """The API server answered that it ran out of time (504, reason Timeout/ServerTimeout)."""

    retryable = True


_BY_CODE: dict[int, type[KubeError]] = {
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Gone,
    422: Invalid,
    504: ServerTimeout,
}


def classify(err: BaseException, *, context: str | None = None) -> KubeError | None:
    """The typed error for `err`, or None when it did not come from talking to a server."""
    if isinstance(err, KubeError):
        if context and not err.context:
            err.context = context
        return err
    if isinstance(err, ApiError):
        return _from_status(err, context)
    if isinstance(err, httpx2.HTTPStatusError):  # a body that is not a Status
        code = err.response.status_code
        kind = _BY_CODE.get(code, KubeError)
        text = err.response.reason_phrase or f"HTTP {code}"
        error = _api_error(kind, text, code, None, (), None, _server(err), context)
        if isinstance(error, NotFound):
            error.api_missing = True
            error.what = f"the server does not serve {err.request.url.path}"
            error.hint = "is the API (its CRD) installed?"
        return error
    if isinstance(err, httpx2.TransportError):
        return _from_transport(err, context)
    return None


def _from_status(err: ApiError, context: str | None) -> KubeError:
    status = err.status
    code = int(status.code or 0) or _response_code(err)
    reason = status.reason or None
    details = status.details
    causes = tuple(
        Cause(c.field or "", c.message or "", c.reason or "")
        for c in ((details.causes if details else None) or [])
    )
    retry_after = (
        float(details.retryAfterSeconds) if details and details.retryAfterSeconds else None
    )
    kind = _BY_CODE.get(code, KubeError)
    if code == 409 and reason == "AlreadyExists":
        kind = AlreadyExists
    elif code == 422 and any("field is immutable" in c.message for c in causes):
        kind = ImmutableField
    elif reason in ("Timeout", "ServerTimeout"):
        kind = ServerTimeout
    message = status.message or reason or f"HTTP {code}"
    error = _api_error(kind, message, code, reason, causes, retry_after, _server(err), context)
    if isinstance(error, NotFound):
        error.api_missing = details is None or not (details.name or details.kind)
    if code == 429 or code >= 500:
        error.retryable = True
    return error


def _api_error(
    kind: type[KubeError],
    message: str,
    code: int,
    reason: str | None,
    causes: tuple[Cause, ...],
    retry_after: float | None,
    server: str | None,
    context: str | None,
) -> KubeError:
    where = (
        f"HTTP {code}" + (f" {reason}" if reason else "") + (f" from {server}" if server else "")
    )
    if kind is Unauthorized:
        message = f"the cluster at {server or 'the server'} refused the credentials"
        where = "credentials rejected or expired"
    return kind(
        message,
        server=server,
        cause=where,
        context=context,
        code=code,
        reason=reason,
        causes=causes,
        retry_after=retry_after,
    )


def _from_transport(err: httpx2.TransportError, context: str | None) -> KubeError:
    server = _server(err)
    at = f"the cluster at {server}" if server else "the cluster"
    chain = list(_chain(err))
    verify = next((e for e in chain if isinstance(e, ssl.SSLCertVerificationError)), None)
    if verify is not None:
        reason = verify.verify_message or verify.reason or "certificate verify failed"
        return TLSFailure(
            f"cannot verify the TLS certificate of {at}",
            server=server,
            cause=str(reason),
            context=context,
        )
    tls = next((e for e in chain if isinstance(e, ssl.SSLError)), None)
    if tls is not None:
        return TLSFailure(
            f"TLS handshake with {at} failed",
            server=server,
            cause=str(tls.reason or tls),
            hint="is the server URL right (https, the API server's port)?",
            context=context,
        )
    if isinstance(err, httpx2.UnsupportedProtocol):
        return KubeError(
            f"cannot talk to {at}",
            server=server,
            cause=str(err) or "unsupported URL",
            hint="the kubeconfig's server must be an http(s) URL",
            context=context,
        )
    return Unreachable(f"cannot reach {at}", server=server, cause=_why(err, chain), context=context)


def _why(err: httpx2.TransportError, chain: list[BaseException]) -> str:
    """The short cause a user recognises, from the innermost OS error when there is one."""
    if isinstance(err, httpx2.ConnectTimeout):
        return "timed out connecting"
    if isinstance(err, httpx2.TimeoutException):
        return "no answer in time"
    if isinstance(err, httpx2.RemoteProtocolError):
        return "the server closed the connection"
    for e in chain:
        if isinstance(e, OSError) and e.errno is not None:
            if e.errno == errno.ECONNREFUSED:
                return "connection refused"
            if e.errno == errno.ECONNRESET:
                return "connection reset"
            if isinstance(e, OSError) and e.strerror:
                return e.strerror.lower() if e.strerror[:1].isupper() else e.strerror
    return str(err) or type(err).__name__


def _chain(err: BaseException) -> Any:
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _server(err: httpx2.HTTPError) -> str | None:
    """scheme://host:port of the request that failed (None when there was no request)."""
    try:
        url = err.request.url
    except RuntimeError:  # httpx raises when an error carries no request
        return None
    default = {"https": 443, "http": 80}.get(url.scheme)
    port = url.port or default
    host = f"[{url.host}]" if ":" in url.host else url.host
    return f"{url.scheme}://{host}" + (f":{port}" if port else "")


def _response_code(err: ApiError) -> int:
    try:
        return int(err.response.status_code)
    except (RuntimeError, AttributeError):
        return 0


def _one_line(text: str) -> str:
    return " ".join(text.split())
