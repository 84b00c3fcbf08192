"""The fleet API's committed CRDs are the ones its types generate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from quarterdeck.api import fleet
from quarterdeck.api.crd import crd

CRD_DIR = Path(__file__).parents[2] / "deploy" / "crds"


@pytest.mark.parametrize("kind", fleet.KINDS, ids=lambda k: k.type.__name__)
def test_committed_crds_match_the_types(kind: Any) -> None:
    manifest = crd(kind)
    committed = yaml.safe_load((CRD_DIR / f"{manifest['metadata']['name']}.yaml").read_text())
    hint = "regenerate: python -m quarterdeck.api.crd quarterdeck.api.fleet deploy/crds"
    assert committed == manifest, hint


EXAMPLES = Path(__file__).parents[2] / "examples" / "fleet"


def test_the_example_baseline_renders_and_its_cluster_set_decodes() -> None:
    from quarterdeck import kyaml
    from quarterdeck.delivery.render import render

    objects = {(m.obj["kind"], m.obj["metadata"]["name"]) for m in render(EXAMPLES, "baseline")}
    assert ("Namespace", "team-apps") in objects and ("StorageClass", "standard") in objects
    docs = [d.data for d in kyaml.read_all(EXAMPLES / "clusterset.yaml")]
    (cs,) = [fleet.decode_cluster_set(d) for d in docs if d["kind"] == "ClusterSet"]
    assert cs.spec.cluster_selector.match_labels == {"env": "prod"}
    assert cs.spec.rollout.wave_label == "rollout-wave" and cs.spec.rollout.max_concurrent == 2
