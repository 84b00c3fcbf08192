"""The real API server's failures, classified: what the dev cluster answers, not a fixture."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from lightkube import Client
from lightkube.models.authentication_v1 import TokenRequestSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap, Secret, ServiceAccount, ServiceAccountToken

from quarterdeck.devcluster.session import RunningCluster
from quarterdeck.kube.config import ClientSettings, load_client
from quarterdeck.kube.errors import (
    AlreadyExists,
    Conflict,
    Forbidden,
    ImmutableField,
    Invalid,
    KubeError,
    NotFound,
    TLSFailure,
    Unauthorized,
    Unreachable,
    classify,
)

pytestmark = pytest.mark.integration


def raised(call: Callable[[], Any]) -> KubeError:
    """The typed error of `call`, which must fail by talking to the server."""
    with pytest.raises(Exception) as info:
        call()
    err = classify(info.value, context="it")
    assert err is not None, f"not classified: {info.value!r}"
    assert "\n" not in str(err)
    return err


def test_not_found_already_exists_conflict(kube: Client, namespace: str) -> None:
    err = raised(lambda: kube.get(ConfigMap, "missing", namespace=namespace))
    assert type(err) is NotFound and err.code == 404 and not err.api_missing
    assert str(err).startswith('configmaps "missing" not found (HTTP 404 NotFound from https://')

    cm = ConfigMap(metadata=ObjectMeta(name="one", namespace=namespace), data={"a": "1"})
    kube.create(cm)
    assert type(raised(lambda: kube.create(cm))) is AlreadyExists

    stale = kube.get(ConfigMap, "one", namespace=namespace)
    fresh = kube.get(ConfigMap, "one", namespace=namespace)
    fresh.data = {"a": "2"}
    kube.replace(fresh)
    stale.data = {"a": "3"}
    conflict = raised(lambda: kube.replace(stale))
    assert type(conflict) is Conflict and conflict.retryable


def test_a_kind_the_server_does_not_serve(kube: Client, namespace: str) -> None:
    from lightkube.generic_resource import create_namespaced_resource

    unknown_group = create_namespaced_resource("nope.quarterdeck.dev", "v1", "Nope", "nopes")
    unknown_kind = create_namespaced_resource("apps", "v1", "Nope", "nopes")
    for res in (unknown_group, unknown_kind):
        err = raised(lambda res=res: kube.get(res, "x", namespace=namespace))  # type: ignore[misc]
        assert isinstance(err, NotFound) and err.api_missing, str(err)
    group = raised(lambda: kube.get(unknown_group, "x", namespace=namespace))
    assert str(group).startswith(
        f"the server does not serve /apis/nope.quarterdeck.dev/v1/namespaces/{namespace}/nopes/x"
    )
    assert str(group).endswith(": is the API (its CRD) installed? (context it)")


def test_invalid_and_immutable_field(kube: Client, namespace: str) -> None:
    bad = ConfigMap(metadata=ObjectMeta(name="Not_A_Name", namespace=namespace))
    err = raised(lambda: kube.create(bad))
    assert type(err) is Invalid and err.causes and err.causes[0].field == "metadata.name"

    frozen = ConfigMap(
        metadata=ObjectMeta(name="frozen", namespace=namespace), data={"a": "1"}, immutable=True
    )
    kube.create(frozen)
    changed = kube.get(ConfigMap, "frozen", namespace=namespace)
    changed.data = {"a": "2"}
    immutable = raised(lambda: kube.replace(changed))
    assert isinstance(immutable, ImmutableField)
    assert str(immutable).endswith("delete and recreate the object to change it (context it)")


def with_user(dev_cluster: RunningCluster, tmp_path: Path, user: dict[str, Any]) -> Path:
    """The dev cluster's kubeconfig with its context's user replaced by `user`."""
    doc = yaml.safe_load(dev_cluster.kubeconfig.read_text())
    for entry in doc["users"]:
        entry["user"] = user
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_forbidden_for_a_service_account_without_rights(
    kube: Client, namespace: str, dev_cluster: RunningCluster, tmp_path: Path
) -> None:
    kube.create(ServiceAccount(metadata=ObjectMeta(name="nobody", namespace=namespace)))
    token = kube.create(
        ServiceAccountToken(
            metadata=ObjectMeta(name="nobody", namespace=namespace),
            spec=TokenRequestSpec(audiences=[], expirationSeconds=600),
        ),
        "nobody",
        namespace=namespace,
    )
    assert token.status is not None
    nobody = load_client(with_user(dev_cluster, tmp_path, {"token": token.status.token}))
    err = raised(lambda: list(nobody.list(Secret, namespace=namespace)))
    assert type(err) is Forbidden and err.code == 403
    assert f'"system:serviceaccount:{namespace}:nobody" cannot list' in str(err)


def test_rejected_token_is_unauthorized(dev_cluster: RunningCluster, tmp_path: Path) -> None:
    client = load_client(with_user(dev_cluster, tmp_path, {"token": "not-a-token"}))
    err = raised(lambda: list(client.list(ConfigMap, namespace="default")))
    assert isinstance(err, Unauthorized)
    assert "(credentials rejected or expired)" in str(err)


def test_server_certificate_not_trusted(dev_cluster: RunningCluster, tmp_path: Path) -> None:
    doc = yaml.safe_load(dev_cluster.kubeconfig.read_text())
    for entry in doc["clusters"]:
        entry["cluster"].pop("certificate-authority-data")
    path = tmp_path / "no-ca"
    path.write_text(yaml.safe_dump(doc))
    err = raised(lambda: list(load_client(ClientSettings(kubeconfig=path)).list(ConfigMap)))
    assert isinstance(err, TLSFailure) and err.exit_code == 3


def test_closed_port_is_unreachable(dev_cluster: RunningCluster, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    doc = yaml.safe_load(dev_cluster.kubeconfig.read_text())
    for entry in doc["clusters"]:
        entry["cluster"]["server"] = f"https://127.0.0.1:{port}"
    path = tmp_path / "closed"
    path.write_text(yaml.safe_dump(doc))
    err = raised(lambda: list(load_client(path).list(ConfigMap, namespace="default")))
    assert isinstance(err, Unreachable) and err.exit_code == 3
    assert str(err) == (
        f"cannot reach the cluster at https://127.0.0.1:{port} (connection refused): "
        "is it running? (context it)"
    )


def test_cli_names_the_missing_kind_when_its_crd_is_not_installed(
    kube: Client, namespace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import typer
    from lightkube.generic_resource import create_namespaced_resource

    from quarterdeck.cli.options import cluster_errors

    unknown = create_namespaced_resource("nope.quarterdeck.dev", "v1", "Nope", "nopes")
    with pytest.raises(typer.Exit) as exit_, cluster_errors("nopes"):
        kube.get(unknown, "x", namespace=namespace)
    assert exit_.value.exit_code == 2
    assert capsys.readouterr().err == (
        "error: the cluster has no nopes (are quarterdeck's CRDs installed?)\n"
    )
