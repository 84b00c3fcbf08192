"""A registered cluster's kubeconfig, from a Secret's bytes to a client, with its problems named.

The kubeconfig comes from a Secret anyone with write access to it can edit, so it is
read as hostile input: parsed with kyaml (bounded), selected with ``kube.config``'s own
rules (exec credential plugins and auth-providers refused), an expired client
certificate caught before any connection, and every message free of credentials
(tokens, keys and certificate data never appear in one; only the server URL,
context and user names do).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import datetime

import httpx2
from cryptography import x509
from lightkube import Client, KubeConfig
from lightkube.config.kubeconfig import SingleConfig

from quarterdeck import kyaml
from quarterdeck.kube.config import ClientSettings, ConfigError, _select

#: Remote clusters answer within this or count as unreachable; a dead one must not hold
#: a worker (or an Application's sync) for the library's default of minutes.
TIMEOUT = httpx2.Timeout(5.0, connect=3.0)
MAX_BYTES = 1 << 20


class KubeconfigError(ValueError):
    """The kubeconfig cannot give a client; ``reason`` is a condition reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Parsed:
    """A usable kubeconfig: where it points and a fingerprint to notice edits by."""

    config: SingleConfig = field(repr=False)  # credentials: never in a repr or a log
    server: str
    context: str
    fingerprint: str
    cert_expires: datetime | None


def parse(data: bytes, now: datetime, allow_exec_plugins: bool = False) -> Parsed:
    """Check a kubeconfig's bytes; raises KubeconfigError with a reason and one line."""
    if not data.strip():
        raise KubeconfigError("InvalidKubeconfig", "kubeconfig is empty")
    if len(data) > MAX_BYTES:
        raise KubeconfigError("InvalidKubeconfig", f"kubeconfig is over {MAX_BYTES} bytes")
    try:
        body = kyaml.load(data.decode("utf-8"), "kubeconfig")
    except (UnicodeDecodeError, kyaml.YAMLError) as err:
        raise KubeconfigError(
            "InvalidKubeconfig", f"kubeconfig is not YAML: {_first(err)}"
        ) from None
    if not isinstance(body, dict) or not body.get("clusters"):
        raise KubeconfigError("InvalidKubeconfig", "kubeconfig names no cluster")
    if files := _file_references(body):
        raise KubeconfigError(
            "InvalidKubeconfig",
            f"kubeconfig names files on the operator's disk ({', '.join(files)}); "
            "a kubeconfig in a Secret must carry its data inline (*-data, token)",
        )
    try:
        config = KubeConfig.from_dict(body)
        settings = ClientSettings(allow_exec_plugins=allow_exec_plugins)
        resolved = _select(config, "from the Secret", settings)
    except ConfigError as err:
        reason = (
            "ExecPluginRefused" if "exec credential plugin" in str(err) else "InvalidKubeconfig"
        )
        raise KubeconfigError(reason, _first(err)) from None
    except Exception as err:  # lightkube's model checks: wrong types, missing fields
        raise KubeconfigError("InvalidKubeconfig", f"kubeconfig: {type(err).__name__}") from None
    if not resolved.server.startswith(("https://", "http://")):
        raise KubeconfigError("InvalidKubeconfig", f"server {resolved.server!r} is not a URL")
    user = resolved.single.user
    expires = _client_cert_expiry(user.client_cert_data if user is not None else None)
    if expires is not None and expires <= now:
        raise KubeconfigError(
            "CredentialsExpired",
            f"the client certificate expired at {expires.isoformat()}",
        )
    digest = hashlib.sha256(data).hexdigest()[:16]
    return Parsed(resolved.single, resolved.server, resolved.context, digest, expires)


def client_for(parsed: Parsed, field_manager: str) -> Client:
    """A client with short timeouts; bad certificate data is a KubeconfigError."""
    try:
        return Client(
            config=parsed.config,
            field_manager=field_manager,
            trust_env=False,
            timeout=TIMEOUT,
        )
    except (OSError, ValueError) as err:
        raise KubeconfigError(
            "InvalidKubeconfig", f"cannot load its certificates: {type(err).__name__}"
        ) from None


_FILE_KEYS = {
    "clusters": ("cluster", ("certificate-authority",)),
    "users": ("user", ("client-certificate", "client-key", "tokenFile")),
}


def _file_references(body: dict[str, object]) -> list[str]:
    """``section/name: key`` of every field that would make the operator read a file."""
    found: list[str] = []
    for section, (inner, keys) in _FILE_KEYS.items():
        for entry in body.get(section) or []:  # type: ignore[attr-defined]
            if not isinstance(entry, dict):
                continue
            fields = entry.get(inner) or {}
            for key in keys:
                if isinstance(fields, dict) and fields.get(key):
                    found.append(f"{section}/{entry.get('name', '?')}: {key}")
    return found


def _client_cert_expiry(data: str | None) -> datetime | None:
    """notAfter of a client certificate given inline; None when there is none or it
    cannot be read (the TLS handshake will then say what is wrong)."""
    if not data:
        return None
    try:
        cert = x509.load_pem_x509_certificate(base64.b64decode(data))
    except ValueError:
        return None
    return cert.not_valid_after_utc


def _first(err: BaseException) -> str:
    return (str(err).splitlines() or [type(err).__name__])[0][:300]
