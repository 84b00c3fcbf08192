"""The DeviceClass map of the QueueingConfig: one file read alike by the operator and
by `qd queue simulate --config`, so a DRA claim is charged the same in both."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from queueing_scenarios import queue_manifests
from typer.testing import CliRunner

from quarterdeck.api.queueing.meta import API_VERSION
from quarterdeck.cli.main import app
from quarterdeck.queueing.config import ConfigError, config_from_document
from quarterdeck.queueing.dra import claim_requests

OBJECTS = (
    queue_manifests("accel", "example.com/accel", 4, "ml", "accel")
    + """---
apiVersion: resource.k8s.io/v1
kind: ResourceClaimTemplate
metadata: {name: two-accels, namespace: ml}
spec:
  spec:
    devices:
      requests:
      - name: accel
        exactly: {deviceClassName: accel.example.com, count: 2}
---
apiVersion: kueue.x-k8s.io/v1beta1
kind: Workload
metadata: {name: infer, namespace: ml}
spec:
  queueName: accel
  podSets:
  - name: main
    count: 1
    template:
      spec:
        resourceClaims: [{name: accel, resourceClaimTemplateName: two-accels}]
        containers: [{name: c, image: x}]
"""
)


def config(device_classes: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "QueueingConfig",
        "metadata": {"name": "default"},
        "spec": {"deviceClasses": device_classes},
    }


def test_the_map_adds_to_the_nvidia_default_and_charges_claims_by_it() -> None:
    got = config_from_document(config({"accel.example.com": "example.com/accel"}))
    assert got.device_classes == {
        "gpu.nvidia.com": "nvidia.com/gpu",
        "accel.example.com": "example.com/accel",
    }
    claims = {("ml", "ResourceClaimTemplate", "t"): (("accel.example.com", 2),)}
    template = {"spec": {"resourceClaims": [{"name": "a", "resourceClaimTemplateName": "t"}]}}
    charged = claim_requests(template, "ml", claims, "p", 1, got.device_classes)
    assert charged == {"example.com/accel": 2000}
    assert claim_requests(template, "ml", claims, "p", 1) == {"accel.example.com": 2000}


@pytest.mark.parametrize(
    ("classes", "message"),
    [
        ({"Accel_X": "example.com/accel"}, "spec.deviceClasses.Accel_X: 'Accel_X' is not a"),
        ({"accel.example.com": "bad name/"}, "spec.deviceClasses.accel.example.com: 'bad name/'"),
        ({"accel.example.com": 3}, "deviceClasses"),
    ],
)
def test_a_bad_map_is_refused_with_the_field_named(classes: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config_from_document(config(classes))


def test_the_simulator_charges_a_claim_by_the_operators_config_file(tmp_path: Path) -> None:
    objects = tmp_path / "objects.yaml"
    objects.write_text(OBJECTS)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(json.dumps(config({"accel.example.com": "example.com/accel"})))
    plain = CliRunner().invoke(app, ["queue", "simulate", str(objects), "-o", "json"])
    assert plain.exit_code == 0, plain.output
    (pending,) = json.loads(plain.output)["pending"]
    assert "accel.example.com is not covered" in json.dumps(pending)
    args = ["queue", "simulate", str(objects), "--config", str(cfg), "-o", "json"]
    mapped = CliRunner().invoke(app, args)
    assert mapped.exit_code == 0, mapped.output
    (admitted,) = json.loads(mapped.output)["admitted"]
    assert admitted["podSets"][0]["resourceUsage"] == {"example.com/accel": "2"}
    cfg.write_text(json.dumps(config({"Accel_X": "example.com/accel"})))
    bad = CliRunner().invoke(app, args)
    assert bad.exit_code == 2 and "spec.deviceClasses.Accel_X" in bad.output
