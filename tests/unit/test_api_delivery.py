"""The delivery API types, their CRD schemas and the generated manifests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from quarterdeck.api import delivery
from quarterdeck.api.crd import crd, schema_of
from quarterdeck.api.duration import DurationError, parse_duration
from quarterdeck.api.meta import Condition, find_condition, set_condition

CRD_DIR = Path(__file__).parents[2] / "deploy" / "crds"


def _app(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": delivery.API_VERSION,
        "kind": "Application",
        "metadata": {"name": "web", "namespace": "team-a", "generation": 3},
        "spec": {"sourceRef": {"name": "platform"}, **spec},
    }


def test_application_decodes_with_defaults_and_round_trips() -> None:
    app = delivery.decode_application(_app(path="apps/web", selfHeal=False))
    assert app.spec.path == "apps/web"
    assert app.spec.self_heal is False
    assert app.spec.prune is True
    assert app.spec.prune_options.max_share == 0.5
    encoded = delivery.encode(app)
    assert encoded["spec"]["sourceRef"] == {"name": "platform"}
    assert delivery.decode_application(encoded) == app


def test_source_rejects_an_unknown_url_scheme() -> None:
    with pytest.raises(msgspec.ValidationError, match=r"spec.url"):
        delivery.decode_source(
            {"metadata": {"name": "x"}, "spec": {"url": "ftp://example/repo.git"}}
        )


def test_negative_interval_is_refused_by_the_schema_pattern() -> None:
    with pytest.raises(msgspec.ValidationError, match=r"spec.interval"):
        delivery.decode_application(_app(interval="-5m"))


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30.0), ("5m", 300.0), ("1h30m", 5400.0), ("250ms", 0.25)]
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["-5m", "", "5", "5d", "m5", "0s"])
def test_parse_duration_refuses_bad_values(text: str) -> None:
    with pytest.raises(DurationError, match=repr(text)):
        parse_duration(text)


def test_set_condition_keeps_transition_time_while_status_holds() -> None:
    first = Condition(type="Ready", status="True", last_transition_time="t1")
    conds = set_condition([], first)
    conds = set_condition(conds, Condition(type="Ready", status="True", last_transition_time="t2"))
    ready = find_condition(conds, "Ready")
    assert ready is not None and ready.last_transition_time == "t1"
    conds = set_condition(conds, Condition(type="Ready", status="False", last_transition_time="t3"))
    ready = find_condition(conds, "Ready")
    assert ready is not None and ready.last_transition_time == "t3"
    assert len(conds) == 1


def _walk(schema: dict[str, Any], path: str = "") -> list[str]:
    """Paths of schema nodes that break the structural rules (a type on every node)."""
    bad = []
    if "type" not in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
        bad.append(path or "<root>")
    for key, sub in schema.get("properties", {}).items():
        bad += _walk(sub, f"{path}.{key}")
    if isinstance(schema.get("items"), dict):
        bad += _walk(schema["items"], f"{path}[]")
    if "$ref" in schema:
        bad.append(path)
    return bad


@pytest.mark.parametrize("kind", delivery.KINDS, ids=lambda k: k.type.__name__)
def test_crd_schema_is_structural(kind: Any) -> None:
    schema = schema_of(kind.type)
    assert _walk(schema) == []
    assert schema["required"] == ["spec"]
    assert "status" in schema["properties"]


def test_crd_carries_printer_columns_and_status_subresource() -> None:
    manifest = crd(delivery.KINDS[1])
    version = manifest["spec"]["versions"][0]
    assert manifest["metadata"]["name"] == "applications.delivery.quarterdeck.dev"
    assert version["subresources"] == {"status": {}}
    assert [c["name"] for c in version["additionalPrinterColumns"]][:2] == ["Revision", "Ready"]
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert spec["required"] == ["sourceRef"]
    assert spec["properties"]["pruneOptions"]["properties"]["maxShare"]["maximum"] == 1.0


@pytest.mark.parametrize("kind", delivery.KINDS, ids=lambda k: k.type.__name__)
def test_committed_crds_match_the_types(kind: Any) -> None:
    manifest = crd(kind)
    committed = yaml.safe_load((CRD_DIR / f"{manifest['metadata']['name']}.yaml").read_text())
    hint = "regenerate: python -m quarterdeck.api.crd quarterdeck.api.delivery deploy/crds"
    assert committed == manifest, hint
