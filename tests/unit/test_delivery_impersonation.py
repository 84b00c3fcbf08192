"""Impersonated views share the operator's connection pool (delivery.cluster)."""

from __future__ import annotations

import httpx2
from lightkube import Client
from lightkube.config.kubeconfig import KubeConfig

from quarterdeck.delivery.cluster import Cluster, impersonated_client

CONFIG = KubeConfig.from_dict(
    {
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
        "users": [{"name": "u", "user": {"token": "operator-token"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }
)


def test_an_impersonated_client_shares_the_pool_and_adds_only_the_header() -> None:
    client = Client(config=CONFIG, field_manager="quarterdeck-delivery", trust_env=False)
    tenant = impersonated_client(client, "system:serviceaccount:team-a:deployer")
    base_http, tenant_http = client._client._client, tenant._client._client
    assert isinstance(tenant_http, httpx2.Client)
    assert tenant_http._transport is base_http._transport  # no new pool, no new TLS
    assert tenant_http.headers["Impersonate-User"] == "system:serviceaccount:team-a:deployer"
    assert "Impersonate-User" not in base_http.headers
    assert tenant_http.base_url == base_http.base_url and tenant_http.auth is base_http.auth
    assert tenant._client._field_manager == "quarterdeck-delivery"


def test_one_view_per_user_reused_and_discovery_stays_shared() -> None:
    cluster = Cluster(Client(config=CONFIG, trust_env=False))
    a = cluster.impersonating("system:serviceaccount:team-a:deployer")
    assert cluster.impersonating("system:serviceaccount:team-a:deployer") is a
    assert a.impersonating("system:serviceaccount:team-b:deployer") is not a
    assert a._kinds is cluster._kinds
