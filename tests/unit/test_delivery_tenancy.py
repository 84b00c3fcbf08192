"""Tenancy decisions: references, URL schemes, destinations, masking, adoption."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quarterdeck.api import delivery as api
from quarterdeck.delivery.inventory import Owner
from quarterdeck.delivery.plan import ADOPT_ANNOTATION, plan
from quarterdeck.delivery.source import redact
from quarterdeck.delivery.tenancy import (
    Policy,
    application_refusal,
    mask,
    source_refusal,
    url_problem,
)

PRINTABLE = st.characters(min_codepoint=33, max_codepoint=126, blacklist_characters="'\"")


@given(st.text(alphabet=PRINTABLE, min_size=1, max_size=20))
def test_userinfo_is_masked_whatever_the_password_holds(password: str) -> None:
    url = f"https://user:{password}@git.example.com/team/repo.git"
    shown = "fetch https://***@git.example.com/team/repo.git: authentication failed"
    assert mask(f"fetch {url}: authentication failed") == shown
    assert redact(url) == "https://***@git.example.com/team/repo.git"


def test_userinfo_with_at_sign_is_masked_completely() -> None:
    assert mask("https://bob:p@ss@w0rd@host/x") == "https://***@host/x"


def test_credentials_over_plain_http_are_refused() -> None:
    open_policy = Policy(allow_http_sources=True)
    assert "credentials over plain http://" in url_problem("http://host/r.git", True, open_policy)
    assert "credentials over plain http://" in url_problem("http://u:p@host/r", False, open_policy)
    assert url_problem("http://host/r.git", False, open_policy) == ""
    assert "http:// sources are off" in url_problem("http://host/r.git", False, Policy())
    assert url_problem("https://host/r.git", True, Policy()) == ""


def test_file_sources_into_the_operator_cache_are_always_refused(tmp_path: Path) -> None:
    lenient = Policy(allow_file_sources=True, cache_dir=tmp_path / "cache")
    mirror = (tmp_path / "cache" / "mirrors" / "abc.git").as_uri()
    assert "operator's cache is refused" in url_problem(mirror, False, lenient)
    assert url_problem((tmp_path / "repo").as_uri(), False, lenient) == ""
    assert "file:// sources are off" in url_problem((tmp_path / "repo").as_uri(), False, Policy())


def _source(namespace: str, secret_ns: str = "") -> api.Source:
    return api.decode_source(
        {
            "metadata": {"name": "s", "namespace": namespace},
            "spec": {"url": "https://h/r.git", "secretRef": {"name": "c", "namespace": secret_ns}},
        }
    )


def _app(namespace: str, **spec: object) -> api.Application:
    return api.decode_application(
        {
            "metadata": {"name": "a", "namespace": namespace},
            "spec": {"sourceRef": {"name": "repo"}, **spec},
        }
    )


def test_cross_namespace_references_are_refused_unless_allowed() -> None:
    assert "secretRef to namespace 'team-b' refused" in source_refusal(
        _source("team-a", "team-b"), Policy()
    )
    assert source_refusal(_source("team-a", "team-a"), Policy()) == ""
    assert source_refusal(_source("team-a", "team-b"), Policy(cross_namespace_refs=True)) == ""
    cross = _app("team-a", sourceRef={"name": "repo", "namespace": "team-b"})
    assert "sourceRef to namespace 'team-b'" in application_refusal(cross, Policy())
    dep = _app("team-a", dependsOn=[{"name": "x", "namespace": "team-b"}])
    assert "dependsOn to namespace 'team-b'" in application_refusal(dep, Policy())
    assert application_refusal(dep, Policy(cross_namespace_refs=True)) == ""


@pytest.mark.parametrize("cluster", ["https://prod.example.com", "prod"])
def test_a_destination_this_operator_cannot_serve_is_refused(cluster: str) -> None:
    app = _app("team-a", destination={"cluster": cluster})
    assert "is not served by this operator" in application_refusal(app, Policy())
    assert application_refusal(_app("team-a", destination={"cluster": ""}), Policy()) == ""


CM = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "team-b"}}


def test_existing_objects_are_not_adopted_without_the_annotation() -> None:
    from quarterdeck.delivery.manifests import key_of

    owner = Owner("team-a", "app")
    live = {key_of(CM): {**CM, "metadata": {**CM["metadata"], "labels": {}}}}
    refused = plan([CM], live, [], owner)
    assert "exists and was not created by this application; refusing to adopt" in refused.errors[0]
    annotated = {
        **CM,
        "metadata": {**CM["metadata"], "annotations": {ADOPT_ANNOTATION: str(owner)}},
    }
    assert plan([CM], {key_of(CM): annotated}, [], owner).errors == ()
    assert plan([CM], {}, [], owner).errors == ()


def test_changes_are_made_as_the_service_account_or_the_lockdown_default() -> None:
    from quarterdeck.delivery.tenancy import service_account_user

    own = _app("team-a", serviceAccountName="deployer")
    assert service_account_user(own, Policy()) == "system:serviceaccount:team-a:deployer"
    assert service_account_user(_app("team-a"), Policy()) == ""
    locked = Policy(default_service_account="tenant")
    assert service_account_user(_app("team-a"), locked) == "system:serviceaccount:team-a:tenant"
    assert service_account_user(own, locked) == "system:serviceaccount:team-a:deployer"


def test_local_and_plain_http_sources_are_off_by_default() -> None:
    import typer.main

    from quarterdeck.cli.main import app
    from quarterdeck.delivery.tenancy import LOCAL_REPOSITORIES

    command = typer.main.get_command(app)
    operator = command.commands["operator"]  # type: ignore[attr-defined]
    defaults = {p.name: p.default for p in operator.params}
    assert defaults["allow_file_sources"] is False
    assert defaults["allow_http_sources"] is False
    assert defaults["allow_cross_namespace_refs"] is False
    repo, plain = "file:///srv/git/team-a.git", "http://git.example.com/team-a.git"
    assert "file:// sources are off" in url_problem(repo, False, Policy())
    assert "--allow-file-sources" in url_problem(repo, False, Policy())
    assert "--allow-http-sources" in url_problem(plain, False, Policy())
    assert url_problem(repo, False, LOCAL_REPOSITORIES) == ""
    assert "http:// sources are off" in url_problem(plain, False, LOCAL_REPOSITORIES)
