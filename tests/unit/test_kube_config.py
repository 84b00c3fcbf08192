"""Kubeconfig resolution against real files in a temporary directory, as kubectl resolves it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from quarterdeck.kube.client import load_async_client
from quarterdeck.kube.config import ClientSettings, ConfigError, load_client, resolve


def kubeconfig(
    path: Path,
    contexts: dict[str, tuple[str, str | None, str | None]],
    clusters: dict[str, str],
    users: dict[str, dict[str, Any]] | None = None,
    current: str | None = None,
) -> Path:
    """Write a kubeconfig: contexts name -> (cluster, user, namespace)."""
    doc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": n, "cluster": {"server": s}} for n, s in clusters.items()],
        "users": [{"name": n, "user": u} for n, u in (users or {}).items()],
        "contexts": [
            {
                "name": n,
                "context": {
                    k: v
                    for k, v in {"cluster": c, "user": u, "namespace": ns}.items()
                    if v is not None
                },
            }
            for n, (c, u, ns) in contexts.items()
        ],
    }
    if current:
        doc["current-context"] = current
    path.write_text(yaml.safe_dump(doc))
    return path


NO_ENV: dict[str, str] = {}


def test_explicit_file_current_context_and_its_namespace(tmp_path: Path) -> None:
    kc = kubeconfig(
        tmp_path / "kc",
        {"dev": ("c1", "u1", "team-a")},
        {"c1": "https://10.0.0.1:6443"},
        {"u1": {"token": "t"}},
        current="dev",
    )
    r = resolve(ClientSettings(kubeconfig=kc), environ=NO_ENV)
    assert (r.context, r.namespace, r.server) == ("dev", "team-a", "https://10.0.0.1:6443")
    assert r.source == str(kc)


def test_namespace_flag_overrides_context_and_default_is_default(tmp_path: Path) -> None:
    kc = kubeconfig(
        tmp_path / "kc",
        {"dev": ("c1", None, "team-a"), "bare": ("c1", None, None)},
        {"c1": "https://10.0.0.1:6443"},
        current="dev",
    )
    assert resolve(ClientSettings(kubeconfig=kc, namespace="x"), environ=NO_ENV).namespace == "x"
    bare = resolve(ClientSettings(kubeconfig=kc, context="bare"), environ=NO_ENV)
    assert bare.namespace == "default"


def test_kubeconfig_list_merges_first_file_wins(tmp_path: Path) -> None:
    a = kubeconfig(
        tmp_path / "a",
        {"shared": ("ca", "ua", "from-a"), "only-a": ("ca", "ua", None)},
        {"ca": "https://a:6443", "both": "https://both-from-a:6443"},
        {"ua": {"token": "a"}},
        current="shared",
    )
    b = kubeconfig(
        tmp_path / "b",
        {"shared": ("cb", "ub", "from-b"), "only-b": ("both", "ub", "nb")},
        {"cb": "https://b:6443", "both": "https://both-from-b:6443"},
        {"ub": {"token": "b"}},
        current="only-b",
    )
    env = {"KUBECONFIG": f"{a}:{tmp_path / 'missing'}::{b}"}
    r = resolve(environ=env)
    # current-context from the first file that sets it; "shared" is a's.
    assert (r.context, r.namespace, r.server) == ("shared", "from-a", "https://a:6443")
    assert sorted(r.config.contexts) == ["only-a", "only-b", "shared"]
    # A context of b that names a cluster both files define gets a's cluster.
    only_b = resolve(ClientSettings(context="only-b"), environ=env)
    assert (only_b.namespace, only_b.server) == ("nb", "https://both-from-a:6443")
    assert only_b.source == f"{a}:{b}"


def test_explicit_path_wins_over_kubeconfig_env(tmp_path: Path) -> None:
    a = kubeconfig(tmp_path / "a", {"a": ("c", None, None)}, {"c": "https://a:1"}, current="a")
    b = kubeconfig(tmp_path / "b", {"b": ("c", None, None)}, {"c": "https://b:1"}, current="b")
    r = resolve(ClientSettings(kubeconfig=b), environ={"KUBECONFIG": str(a)})
    assert r.server == "https://b:1"


def test_home_kube_config_when_no_env(tmp_path: Path) -> None:
    (tmp_path / ".kube").mkdir()
    kubeconfig(
        tmp_path / ".kube" / "config",
        {"home": ("c", None, None)},
        {"c": "https://home:6443"},
        current="home",
    )
    assert resolve(environ={"HOME": str(tmp_path)}).server == "https://home:6443"


def test_relative_file_names_resolve_against_their_own_file(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    a = kubeconfig(
        tmp_path / "one" / "a",
        {"a": ("ca", "ua", None)},
        {"ca": "https://a:1"},
        {"ua": {"token": "x"}},
        current="a",
    )
    b_doc = {
        "clusters": [
            {"name": "cb", "cluster": {"server": "https://b:1", "certificate-authority": "ca.crt"}}
        ],
        "users": [
            {"name": "ub", "user": {"client-certificate": "u.crt", "client-key": "/abs/u.key"}}
        ],
        "contexts": [{"name": "b", "context": {"cluster": "cb", "user": "ub"}}],
    }
    b = tmp_path / "two" / "b"
    b.write_text(yaml.safe_dump(b_doc))
    r = resolve(ClientSettings(context="b"), environ={"KUBECONFIG": f"{a}:{b}"})
    assert r.single.cluster.certificate_auth == str(tmp_path / "two" / "ca.crt")
    assert r.single.user is not None
    assert r.single.user.client_cert == str(tmp_path / "two" / "u.crt")
    assert r.single.user.client_key == "/abs/u.key"


def test_unknown_context_lists_the_contexts(tmp_path: Path) -> None:
    kc = kubeconfig(
        tmp_path / "kc",
        {"dev": ("c", None, None), "prod": ("c", None, None)},
        {"c": "https://c:1"},
        current="dev",
    )
    with pytest.raises(ConfigError) as err:
        resolve(ClientSettings(kubeconfig=kc, context="staging"), environ=NO_ENV)
    assert str(err.value) == f'context "staging" not found in {kc} (contexts: dev, prod)'


def test_no_current_context_asks_for_one(tmp_path: Path) -> None:
    kc = kubeconfig(tmp_path / "kc", {"dev": ("c", None, None)}, {"c": "https://c:1"})
    with pytest.raises(
        ConfigError, match=r"sets no current-context; pass --context \(contexts: dev\)"
    ):
        resolve(ClientSettings(kubeconfig=kc), environ=NO_ENV)


def test_dangling_cluster_or_user_is_named(tmp_path: Path) -> None:
    kc = kubeconfig(
        tmp_path / "kc",
        {"x": ("nope", None, None), "z": ("c", "ghost", None)},
        {"c": "https://c:1"},
        current="x",
    )
    with pytest.raises(ConfigError, match='names cluster "nope"'):
        resolve(ClientSettings(kubeconfig=kc), environ=NO_ENV)
    with pytest.raises(ConfigError, match='names user "ghost"'):
        resolve(ClientSettings(kubeconfig=kc, context="z"), environ=NO_ENV)


EXEC_USER = {
    "exec": {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "command": "aws-iam-authenticator",
        "args": ["token", "-i", "prod"],
    }
}


def test_exec_plugin_refused_in_one_line_unless_allowed(tmp_path: Path) -> None:
    kc = kubeconfig(
        tmp_path / "kc",
        {"eks": ("c", "eks-admin", None)},
        {"c": "https://c:1"},
        {"eks-admin": EXEC_USER},
        current="eks",
    )
    with pytest.raises(ConfigError) as err:
        resolve(ClientSettings(kubeconfig=kc), environ=NO_ENV)
    assert str(err.value) == (
        "kubeconfig user eks-admin uses an exec credential plugin (aws-iam-authenticator); "
        "pass --allow-exec-plugins to run it"
    )
    allowed = resolve(ClientSettings(kubeconfig=kc, allow_exec_plugins=True), environ=NO_ENV)
    assert allowed.single.user is not None and allowed.single.user.exec is not None


def test_exec_plugin_of_an_unused_user_is_not_refused(tmp_path: Path) -> None:
    kc = kubeconfig(
        tmp_path / "kc",
        {"eks": ("c", "eks-admin", None), "dev": ("c", "plain", None)},
        {"c": "https://c:1"},
        {"eks-admin": EXEC_USER, "plain": {"token": "t"}},
        current="dev",
    )
    assert resolve(ClientSettings(kubeconfig=kc), environ=NO_ENV).context == "dev"


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^kubeconfig .*nope not found$"):
        resolve(ClientSettings(kubeconfig=tmp_path / "nope"), environ=NO_ENV)
    bad = tmp_path / "bad"
    bad.write_text("clusters: [\n  - {name: a\n")
    with pytest.raises(ConfigError, match=f"^kubeconfig {bad}:"):
        resolve(ClientSettings(kubeconfig=bad), environ=NO_ENV)
    wrong = tmp_path / "wrong"
    wrong.write_text("clusters: {a: b}\n")
    with pytest.raises(ConfigError, match="clusters is not a list"):
        resolve(ClientSettings(kubeconfig=wrong), environ=NO_ENV)
    with pytest.raises(ConfigError, match="names no existing file"):
        resolve(environ={"KUBECONFIG": str(tmp_path / "nope")})
    with pytest.raises(ConfigError, match="KUBECONFIG is not set"):
        resolve(environ={"HOME": str(tmp_path)})


def fake_service_account(root: Path, namespace: str | None = "jobs") -> Path:
    sa = root / "sa"
    sa.mkdir()
    (sa / "token").write_text("sa-token\n")
    if namespace:
        (sa / "namespace").write_text(namespace)
    return sa


IN_CLUSTER = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}


def test_in_cluster_when_no_kubeconfig(tmp_path: Path) -> None:
    sa = fake_service_account(tmp_path)
    env = {"HOME": str(tmp_path), **IN_CLUSTER}
    r = resolve(service_account_dir=sa, environ=env)
    assert (r.context, r.namespace, r.server, r.source) == (
        "in-cluster",
        "jobs",
        "https://10.96.0.1:443",
        "in-cluster",
    )
    assert r.single.user is not None and r.single.user.token_file == str(sa / "token")
    ipv6 = resolve(
        service_account_dir=sa,
        environ={**env, "KUBERNETES_SERVICE_HOST": "fd00::1", "POD_NAMESPACE": "own"},
    )
    assert (ipv6.server, ipv6.namespace) == ("https://[fd00::1]:443", "own")


def test_in_cluster_needs_the_token_and_the_env(tmp_path: Path) -> None:
    sa = fake_service_account(tmp_path, namespace=None)
    env = {"HOME": str(tmp_path), **IN_CLUSTER}
    assert resolve(service_account_dir=sa, environ=env).namespace == "default"
    with pytest.raises(ConfigError):
        resolve(service_account_dir=sa, environ={"HOME": str(tmp_path)})
    (sa / "token").unlink()
    with pytest.raises(ConfigError):
        resolve(service_account_dir=sa, environ=env)


def test_a_kubeconfig_wins_over_in_cluster(tmp_path: Path) -> None:
    sa = fake_service_account(tmp_path)
    kc = kubeconfig(tmp_path / "kc", {"a": ("c", None, None)}, {"c": "https://kc:1"}, current="a")
    env = {"KUBECONFIG": str(kc), **IN_CLUSTER}
    assert resolve(service_account_dir=sa, environ=env).server == "https://kc:1"


def test_clients_use_the_resolved_namespace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kc = kubeconfig(
        tmp_path / "kc",
        {"dev": ("c", "u", "team-a")},
        {"c": "https://127.0.0.1:1"},
        {"u": {"token": "t"}},
        current="dev",
    )
    monkeypatch.delenv("KUBECONFIG", raising=False)
    assert load_client(kc).namespace == "team-a"
    assert load_client(ClientSettings(kubeconfig=kc, namespace="b")).namespace == "b"
    assert load_async_client(kc).namespace == "team-a"


def test_kubeconfig_scalars_are_read_as_kubectl_reads_them(tmp_path: Path) -> None:
    # PyYAML would make the date-named context a datetime.date and never find it
    kc = tmp_path / "kc"
    kc.write_text(
        "clusters: [{name: c, cluster: {server: 'https://c:1'}}]\n"
        "contexts: [{name: 2026-12-01, context: {cluster: c, namespace: 2026-12-01}}]\n"
        "current-context: 2026-12-01\n"
    )
    r = resolve(ClientSettings(kubeconfig=kc), environ=NO_ENV)
    assert (r.context, r.namespace) == ("2026-12-01", "2026-12-01")
    # kubectl reads `name: y` as true (YAML 1.1 via go-yaml), and so do we: said plainly
    yes = tmp_path / "yes"
    yes.write_text("contexts: [{name: y, context: {cluster: c}}]\n")
    with pytest.raises(ConfigError, match="a name in contexts is True, not a string"):
        resolve(ClientSettings(kubeconfig=yes), environ=NO_ENV)
    tabs = tmp_path / "tabs"
    tabs.write_bytes(b"clusters:\n\t- name: c\n")
    with pytest.raises(ConfigError, match=f"^kubeconfig {tabs}:2:1: "):
        resolve(ClientSettings(kubeconfig=tabs), environ=NO_ENV)
