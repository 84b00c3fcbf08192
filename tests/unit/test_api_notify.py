"""The Provider and Alert API: committed CRDs match the types; bad specs are refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from quarterdeck.api import notify
from quarterdeck.api.crd import crd

CRD_DIR = Path(__file__).parents[2] / "deploy" / "crds"


@pytest.mark.parametrize("kind", notify.KINDS, ids=lambda k: k.type.__name__)
def test_committed_crds_match_the_types(kind: Any) -> None:
    manifest = crd(kind)
    committed = yaml.safe_load((CRD_DIR / f"{manifest['metadata']['name']}.yaml").read_text())
    assert committed == manifest, (
        "regenerate: python -m quarterdeck.api.crd quarterdeck.api.notify deploy/crds"
    )


def test_unknown_provider_type_and_event_type_are_refused() -> None:
    with pytest.raises(msgspec.ValidationError, match=r"spec\.type"):
        notify.decode_provider({"spec": {"type": "pager"}})
    with pytest.raises(msgspec.ValidationError, match=r"spec.eventTypes\[0\]"):
        notify.decode_alert({"spec": {"providerRef": {"name": "p"}, "eventTypes": ["exploded"]}})
    alert = notify.decode_alert({"spec": {"providerRef": {"name": "p"}}})
    assert [s.kind for s in alert.spec.event_sources] == ["Application"]
