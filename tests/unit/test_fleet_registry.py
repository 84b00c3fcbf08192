"""The registry's pure decisions: which sources register, under which name, and each
kubeconfig problem named without credentials."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from quarterdeck.devcluster import pki
from quarterdeck.devcluster.kubeconfig import kubeconfig
from quarterdeck.fleet import registry
from quarterdeck.fleet.kubeconfig import KubeconfigError, parse

NOW = datetime(2026, 12, 1, tzinfo=UTC)
CREDS = pki.generate(NOW, "t")


def _kubeconfig(server: str = "https://127.0.0.1:6443", creds: pki.ClusterPKI = CREDS) -> bytes:
    return yaml.safe_dump(kubeconfig("t", server, creds)).encode()


def _secret(name: str, data: bytes, label: str = "", **labels: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": "ops",
            "labels": {registry.CLUSTER_LABEL: label, **labels},
        },
        "data": {"kubeconfig": base64.b64encode(data).decode()},
    }


def _capi(name: str, ready: bool, **labels: str) -> dict[str, Any]:
    cond = {"type": "Available", "status": "True" if ready else "False", "reason": "x"}
    return {
        "apiVersion": "cluster.x-k8s.io/v1beta2",
        "kind": "Cluster",
        "metadata": {"name": name, "namespace": "capi", "labels": labels},
        "status": {"conditions": [cond]},
    }


def _capi_secret(name: str, data: bytes) -> dict[str, Any]:
    return {
        "metadata": {"name": f"{name}-kubeconfig"},
        "data": {"value": base64.b64encode(data).decode()},
    }


def test_secrets_and_ready_cluster_api_clusters_register_with_their_labels() -> None:
    kc = _kubeconfig()
    decided = registry.decide(
        [_secret("edge-1", kc, env="prod"), _secret("named", kc, label="core")],
        [_capi("a", True, env="dev"), _capi("b", False, env="prod"), _capi("c", True)],
        {
            ("capi", "a-kubeconfig"): _capi_secret("a", kc),
            ("capi", "b-kubeconfig"): _capi_secret("b", kc),
        },
    )
    names = {r.name: r for r in decided.registrations}
    # b is not Ready, c has no kubeconfig Secret: neither is registered yet
    assert sorted(names) == ["a", "core", "edge-1"]
    assert names["a"].labels == {"env": "dev", registry.SOURCE_LABEL: "clusterapi"}
    assert names["edge-1"].labels == {"env": "prod", registry.SOURCE_LABEL: "secret"}
    assert names["core"].source.name == "named"
    assert all(r.problem is None for r in names.values())


def test_a_cluster_being_deleted_is_not_registered() -> None:
    cluster = _capi("a", True)
    cluster["metadata"]["deletionTimestamp"] = "2026-12-01T00:00:00Z"
    kc = _capi_secret("a", _kubeconfig())
    assert registry.decide([], [cluster], {("capi", "a-kubeconfig"): kc}).registrations == []


def test_a_name_taken_twice_keeps_the_secret_and_reports_the_other() -> None:
    kc = _kubeconfig()
    decided = registry.decide(
        [_secret("a", kc)], [_capi("a", True)], {("capi", "a-kubeconfig"): _capi_secret("a", kc)}
    )
    assert [r.source.kind for r in decided.registrations] == ["Secret"]
    assert decided.refused == [
        "ClusterAPI capi/a: cluster name 'a' is already registered by Secret ops/a"
    ]


def test_two_registrations_of_one_server_are_reported_on_both() -> None:
    dups = registry.same_servers(
        {"a": "https://10.0.0.1:6443", "b": "https://10.0.0.1:6443/", "c": "https://x"}
    )
    assert dups == {"a": ["b"], "b": ["a"]}
    status = registry.cluster_status(None, None, registry.Probe(version="v1"), dups["a"], "now")
    dup = next(c for c in status.conditions if c.type == "DuplicateServer")
    assert dup.status == "True" and "also registered as b" in dup.message


def test_gpus_are_counted_by_model() -> None:
    def node(product: str, gpus: str) -> dict[str, Any]:
        return {
            "metadata": {"labels": {registry.GPU_PRODUCT_LABEL: product}},
            "status": {
                "allocatable": {"nvidia.com/gpu": gpus},
                "conditions": [{"type": "Ready", "status": "True"}],
            },
        }

    probe = registry.Probe(
        version="v1.36.3",
        nodes=[node("H100", "8"), node("H100", "8"), node("L4", "1"), node("x", "0")],
    )
    status = registry.cluster_status(None, None, probe, [], "t")
    assert status.reachable and status.nodes == 4 and status.ready_nodes == 4
    assert [(g.model, g.allocatable, g.nodes) for g in status.gpus] == [
        ("H100", 16, 2),
        ("L4", 1, 1),
    ]


def test_an_unreachable_cluster_keeps_its_last_facts_with_the_reason() -> None:
    first = registry.cluster_status(None, None, registry.Probe(version="v1", nodes=[{}]), [], "t1")
    down = registry.cluster_status(
        first, None, registry.Probe(error=("Unreachable", "connection refused")), [], "t2"
    )
    ready = next(c for c in down.conditions if c.type == "Ready")
    assert not down.reachable and down.server_version == "v1" and down.last_contact == "t1"
    assert (ready.status, ready.reason, ready.message) == (
        "False",
        "Unreachable",
        "connection refused",
    )


def test_a_good_kubeconfig_parses() -> None:
    parsed = parse(_kubeconfig("https://127.0.0.1:7000"), NOW)
    assert parsed.server == "https://127.0.0.1:7000"
    assert parsed.cert_expires is not None and parsed.cert_expires > NOW


def _refused(data: bytes) -> KubeconfigError:
    with pytest.raises(KubeconfigError) as info:
        parse(data, NOW)
    return info.value


def test_an_exec_plugin_is_refused() -> None:
    body = kubeconfig("t", "https://127.0.0.1:1", CREDS)
    body["users"][0]["user"] = {
        "exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "steal-things"}
    }
    err = _refused(yaml.safe_dump(body).encode())
    assert err.reason == "ExecPluginRefused" and "steal-things" in str(err)


def test_file_references_are_refused() -> None:
    body = kubeconfig("t", "https://127.0.0.1:1", CREDS)
    body["users"][0]["user"] = {"tokenFile": "/var/run/secrets/kubernetes.io/serviceaccount/token"}
    err = _refused(yaml.safe_dump(body).encode())
    assert err.reason == "InvalidKubeconfig" and "tokenFile" in str(err)


def test_an_expired_client_certificate_is_named_without_contacting_anyone() -> None:
    old = pki.generate(NOW - timedelta(days=400), "old")
    err = _refused(_kubeconfig(creds=old))
    assert err.reason == "CredentialsExpired" and "expired" in str(err)


@pytest.mark.parametrize("data", [b"", b"{{{", b"[1, 2]", b"clusters: []", b"\xff\xfe"])
def test_malformed_kubeconfigs_are_one_line_without_secrets(data: bytes) -> None:
    err = _refused(data)
    assert err.reason == "InvalidKubeconfig" and "\n" not in str(err)


def test_no_message_carries_the_credentials() -> None:
    body = kubeconfig("t", "https://127.0.0.1:1", CREDS)
    body["contexts"][0]["context"]["user"] = "nobody"  # a context naming a missing user
    token = "s3cr3t-token-value"
    body["users"][0]["user"] = {"token": token}
    err = _refused(yaml.safe_dump(body).encode())
    assert token not in str(err) and "nobody" in str(err)


def test_a_registration_never_shows_its_kubeconfig() -> None:
    reg = registry.secret_registration(_secret("edge", _kubeconfig()))
    parsed = parse(_kubeconfig(), NOW)
    assert reg is not None and "client-key" not in repr(reg) and "BEGIN" not in repr(reg)
    assert CREDS.admin.key_pem.decode()[40:80] not in repr(parsed)
    assert "client_key_data" not in repr(parsed)
