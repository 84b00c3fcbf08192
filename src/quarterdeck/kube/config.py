"""Which cluster, as whom, in which namespace: the kubeconfig resolved as kubectl resolves it.

Order (client-go's clientcmd): an explicit path; else every path in $KUBECONFIG, merged (the
first file to name a cluster, user or context wins, and the first to set current-context);
else ~/.kube/config; else, in a pod, the service account. `--context` picks a context,
whose namespace is the default namespace. Exec credential plugins run arbitrary commands,
so one is refused unless the caller allows it. Every failure is a ConfigError with one line
that says what was tried and what to do.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from lightkube import AsyncClient, Client, KubeConfig
from lightkube import ConfigError as LightkubeConfigError
from lightkube.config.kubeconfig import SingleConfig
from lightkube.config.models import Cluster, Context, User

C = TypeVar("C", Client, AsyncClient)

DEFAULT_NAMESPACE = "default"
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
#: Keys whose values are file names, relative to the kubeconfig file that holds them.
_PATH_KEYS = {
    "cluster": ("certificate-authority",),
    "user": ("client-certificate", "client-key", "tokenFile"),
}
_SECTIONS = (("clusters", "cluster"), ("users", "user"), ("contexts", "context"))


class ConfigError(LightkubeConfigError):
    """The kubeconfig cannot give a client: missing, malformed, unknown context, refused auth.

    A lightkube ConfigError too, so code that catches lightkube's keeps working.
    """


@dataclass(frozen=True)
class ClientSettings:
    """What the user asked for; None means "as kubectl would choose"."""

    kubeconfig: Path | None = None
    context: str | None = None
    namespace: str | None = None
    allow_exec_plugins: bool = False


@dataclass(frozen=True)
class Resolved:
    """The outcome: the merged config, the chosen context and where requests go."""

    config: KubeConfig
    context: str
    namespace: str
    server: str
    #: Where the config came from, for messages: file paths joined by ":", or "in-cluster".
    source: str
    single: SingleConfig


def resolve(
    settings: ClientSettings | None = None,
    *,
    service_account_dir: Path = SERVICE_ACCOUNT_DIR,
    environ: Mapping[str, str] | None = None,
) -> Resolved:
    """The config `settings` select; raises ConfigError with a one-line reason."""
    settings = settings or ClientSettings()
    env = os.environ if environ is None else environ
    config, source = _load(settings.kubeconfig, env, service_account_dir)
    return _select(config, source, settings)


def load_client(
    settings: ClientSettings | Path | None = None, field_manager: str | None = None
) -> Client:
    """A synchronous client for `settings` (a bare Path is an explicit kubeconfig file)."""
    return build_client(Client, resolve(as_settings(settings)), field_manager)


def build_client(cls: type[C], resolved: Resolved, field_manager: str | None = None) -> C:
    """A lightkube Client or AsyncClient for `resolved`; bad certificate files are ConfigErrors."""
    try:
        return cls(
            config=resolved.single,
            namespace=resolved.namespace,
            field_manager=field_manager,
            trust_env=False,
        )
    except (OSError, ValueError) as err:  # ssl.SSLError is an OSError; bad base64 a ValueError
        raise ConfigError(
            f"kubeconfig {resolved.source}: context {resolved.context}: "
            f"cannot load its certificates: {err}"
        ) from None


def as_settings(settings: ClientSettings | Path | None) -> ClientSettings:
    """Callers that only know a kubeconfig file pass a Path; this makes it ClientSettings."""
    if isinstance(settings, ClientSettings):
        return settings
    return ClientSettings(kubeconfig=settings)


def _load(explicit: Path | None, env: Mapping[str, str], sa_dir: Path) -> tuple[KubeConfig, str]:
    if explicit is not None:
        path = explicit.expanduser()
        if not path.is_file():
            raise ConfigError(f"kubeconfig {explicit} not found")
        return _merge([path]), str(explicit)
    if env.get("KUBECONFIG"):
        # kubectl skips empty entries and files that do not exist; duplicates count once.
        listed = [Path(p).expanduser() for p in env["KUBECONFIG"].split(os.pathsep) if p]
        existing = [p for p in dict.fromkeys(listed) if p.is_file()]
        if existing:
            return _merge(existing), os.pathsep.join(str(p) for p in existing)
        tried = f"$KUBECONFIG ({env['KUBECONFIG']}) names no existing file"
    else:
        home = Path(env.get("HOME", "~")).expanduser()
        default = home / ".kube" / "config"
        if default.is_file():
            return _merge([default]), str(default)
        tried = f"no kubeconfig: $KUBECONFIG is not set and {default} does not exist"
    if in_cluster := _in_cluster(env, sa_dir):
        return in_cluster, "in-cluster"
    raise ConfigError(f"{tried}; pass --kubeconfig or set KUBECONFIG")


def _read(path: Path) -> dict[str, Any]:
    """One kubeconfig file, parsed as Kubernetes parses YAML (``quarterdeck.kyaml``)."""
    from quarterdeck import kyaml

    try:
        data = kyaml.load(path.read_bytes(), str(path))
    except OSError as err:
        raise ConfigError(f"kubeconfig {path}: cannot read: {err.strerror or err}") from None
    except kyaml.YAMLError as err:  # "path:line:column: reason"
        raise ConfigError(f"kubeconfig {err}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"kubeconfig {path}: not a mapping")
    return data


def _merge(paths: list[Path]) -> KubeConfig:
    """kubectl's merge: for each named entry and for current-context, the first file wins."""
    merged: dict[str, Any] = {"clusters": [], "users": [], "contexts": []}
    seen: dict[str, set[str]] = {section: set() for section, _ in _SECTIONS}
    for path in paths:
        data = _read(path)
        if not merged.get("current-context") and data.get("current-context"):
            merged["current-context"] = data["current-context"]
        for section, key in _SECTIONS:
            entries = data.get(section) or []
            if not isinstance(entries, list):
                raise ConfigError(f"kubeconfig {path}: {section} is not a list")
            for entry in entries:
                name = entry.get("name") if isinstance(entry, dict) else None
                if name is not None and not isinstance(name, str):  # `name: y` is true
                    raise ConfigError(
                        f"kubeconfig {path}: a name in {section} is {name!r}, not a string "
                        "(quote it, as kubectl needs it quoted too)"
                    )
                if not isinstance(name, str):
                    raise ConfigError(f"kubeconfig {path}: an entry of {section} has no name")
                if entry["name"] in seen[section]:
                    continue
                seen[section].add(entry["name"])
                body = entry.get(key) or {}
                if not isinstance(body, dict):
                    raise ConfigError(f"kubeconfig {path}: {section} {entry['name']}: not a map")
                merged[section].append({"name": entry["name"], key: _absolute(body, key, path)})
    try:
        return KubeConfig.from_dict(merged, fname=paths[0])
    except Exception as err:  # msgspec names the field that has the wrong type
        raise ConfigError(f"kubeconfig {_joined(paths)}: {err}") from None


def _absolute(body: dict[str, Any], key: str, path: Path) -> dict[str, Any]:
    """Relative file names resolved against the file they came from, as kubectl does."""
    fixed = dict(body)
    for name in _PATH_KEYS.get(key, ()):
        value = fixed.get(name)
        if isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
            fixed[name] = str(path.parent / value)
    return fixed


def _in_cluster(env: Mapping[str, str], sa_dir: Path) -> KubeConfig | None:
    """The pod's service account, as client-go's InClusterConfig finds it."""
    host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT")
    token = sa_dir / "token"
    if not host or not port or not token.is_file():
        return None
    if ":" in host:
        host = f"[{host}]"
    ca = sa_dir / "ca.crt"
    ns_file = sa_dir / "namespace"
    namespace = env.get("POD_NAMESPACE") or (
        ns_file.read_text().strip() if ns_file.is_file() else None
    )
    return KubeConfig.from_one(
        cluster=Cluster(
            server=f"https://{host}:{port}",
            certificate_auth=str(ca) if ca.is_file() else None,
        ),
        # A token file, not its content: the kubelet rotates it and lightkube re-reads it.
        user=User(token_file=str(token)),
        context_name="in-cluster",
        namespace=namespace or None,
    )


def _select(config: KubeConfig, source: str, settings: ClientSettings) -> Resolved:
    name = settings.context or config.current_context
    known = ", ".join(sorted(config.contexts)) or "none"
    if not name:
        raise ConfigError(
            f"kubeconfig {source} sets no current-context; pass --context (contexts: {known})"
        )
    context: Context | None = config.contexts.get(name)
    if context is None:
        raise ConfigError(f'context "{name}" not found in {source} (contexts: {known})')
    cluster = config.clusters.get(context.cluster)
    if cluster is None:
        raise ConfigError(f'context "{name}" names cluster "{context.cluster}", not in {source}')
    user = User()
    if context.user:
        found = config.users.get(context.user)
        if found is None:
            raise ConfigError(f'context "{name}" names user "{context.user}", not in {source}')
        user = found
        _check_auth(context.user, user, settings)
    namespace = settings.namespace or context.namespace or DEFAULT_NAMESPACE
    single = SingleConfig(
        context_name=name, context=context, cluster=cluster, user=user, fname=config.fname
    )
    return Resolved(config, name, namespace, cluster.server, source, single)


def _check_auth(name: str, user: User, settings: ClientSettings) -> None:
    # lightkube picks a token before an exec plugin; refuse only a plugin it would run.
    runs_exec = user.exec is not None and user.token is None and user.token_file is None
    if runs_exec and not settings.allow_exec_plugins:
        assert user.exec is not None
        raise ConfigError(
            f"kubeconfig user {name} uses an exec credential plugin ({user.exec.command}); "
            "pass --allow-exec-plugins to run it"
        )
    if user.auth_provider and not (user.token or user.token_file or user.exec):
        provider = user.auth_provider.get("name", "?")
        raise ConfigError(
            f"kubeconfig user {name} uses the auth-provider {provider}, which is not supported; "
            "use a token, a client certificate or an exec plugin"
        )


def _joined(paths: list[Path]) -> str:
    return os.pathsep.join(str(p) for p in paths)
