"""kwok Stage documents: how fake nodes and pods move through their lifecycle.

Our own stages, written for quarterdeck's needs:
- a managed node becomes Ready at once and keeps a heartbeat (the lease is kept by
  kwok itself through --node-lease-duration-seconds, so status heartbeats can be rare);
- a pod bound to a fake node becomes Running and Ready at once;
- a pod owned by a Job completes (Succeeded) after the duration in its
  `quarterdeck.dev/duration` annotation (a Go duration such as `90s`), 1 s when absent,
  so a traced GPU job "runs" for its traced time;
- a pod being deleted goes away.
"""

from __future__ import annotations

from typing import Any

DURATION_ANNOTATION = "quarterdeck.dev/duration"
_API = "kwok.x-k8s.io/v1alpha1"

_NODE_STATUS = """\
{{ $now := Now }}
conditions:
{{ range NodeConditions }}
- lastHeartbeatTime: {{ $now | Quote }}
  lastTransitionTime: {{ $now | Quote }}
  message: {{ .message | Quote }}
  reason: {{ .reason | Quote }}
  status: {{ .status | Quote }}
  type: {{ .type | Quote }}
{{ end }}
addresses:
- address: {{ NodeIP | Quote }}
  type: InternalIP
- address: {{ NodeName | Quote }}
  type: Hostname
allocatable:
{{ YAML .status.allocatable 1 }}
capacity:
{{ YAML .status.capacity 1 }}
nodeInfo:
  architecture: amd64
  operatingSystem: linux
  kubeletVersion: {{ printf "fake-kwok-%s" Version | Quote }}
  containerRuntimeVersion: {{ printf "fake-kwok-%s" Version | Quote }}
  kernelVersion: fake
  kubeProxyVersion: fake
  osImage: quarterdeck fake node
  machineID: ""
  systemUUID: ""
  bootID: ""
phase: Running
"""

_POD_RUNNING = """\
{{ $now := Now }}
conditions:
- {type: PodScheduled, status: "True", lastTransitionTime: {{ $now | Quote }}}
- {type: Initialized, status: "True", lastTransitionTime: {{ $now | Quote }}}
- {type: ContainersReady, status: "True", lastTransitionTime: {{ $now | Quote }}}
- {type: Ready, status: "True", lastTransitionTime: {{ $now | Quote }}}
containerStatuses:
{{ range .spec.containers }}
- name: {{ .name | Quote }}
  image: {{ .image | Quote }}
  ready: true
  started: true
  restartCount: 0
  state:
    running:
      startedAt: {{ $now | Quote }}
{{ end }}
hostIP: {{ NodeIP | Quote }}
podIP: {{ PodIP | Quote }}
phase: Running
startTime: {{ $now | Quote }}
"""

_POD_SUCCEEDED = """\
{{ $now := Now }}
conditions:
- {type: PodScheduled, status: "True", lastTransitionTime: {{ $now | Quote }}}
- {type: Initialized, status: "True", lastTransitionTime: {{ $now | Quote }}}
- type: ContainersReady
  status: "False"
  reason: PodCompleted
  lastTransitionTime: {{ $now | Quote }}
- type: Ready
  status: "False"
  reason: PodCompleted
  lastTransitionTime: {{ $now | Quote }}
containerStatuses:
{{ range .spec.containers }}
- name: {{ .name | Quote }}
  image: {{ .image | Quote }}
  ready: false
  started: false
  restartCount: 0
  state:
    terminated:
      exitCode: 0
      reason: Completed
      finishedAt: {{ $now | Quote }}
{{ end }}
phase: Succeeded
"""


def _expr(key: str, operator: str, *values: str) -> dict[str, Any]:
    expr: dict[str, Any] = {"key": key, "operator": operator}
    if values:
        expr["values"] = list(values)
    return expr


def _stage(
    name: str,
    kind: str,
    exprs: list[dict[str, Any]],
    nxt: dict[str, Any],
    delay: dict[str, Any] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "resourceRef": {"apiGroup": "v1", "kind": kind},
        "selector": {"matchExpressions": exprs},
        "next": nxt,
    }
    if delay:
        spec["delay"] = delay
    return {"apiVersion": _API, "kind": "Stage", "metadata": {"name": name}, "spec": spec}


_READY = '.status.conditions.[] | select( .type == "Ready" ) | .status'


def kwok_configuration(parallelism: int = 16) -> dict[str, Any]:
    """kwok's own settings: more parallel stage workers than its default of 4, which
    otherwise limits a 1,000-node cluster to about 18 nodes initialized per second."""
    return {
        "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
        "kind": "KwokConfiguration",
        "options": {
            "nodePlayStageParallelism": parallelism,
            "podPlayStageParallelism": parallelism,
            "nodeLeaseParallelism": parallelism,
        },
    }


def stages(heartbeat_seconds: int = 20) -> list[dict[str, Any]]:
    """All stages a dev cluster's kwok runs with."""
    not_deleting = _expr(".metadata.deletionTimestamp", "DoesNotExist")
    return [
        _stage(
            "qd-node-initialize",
            "Node",
            [_expr(_READY, "NotIn", "True")],
            {"statusTemplate": _NODE_STATUS},
        ),
        _stage(
            "qd-node-heartbeat",
            "Node",
            [_expr(".status.phase", "In", "Running"), _expr(_READY, "In", "True")],
            {"statusTemplate": _NODE_STATUS},
            {
                "durationMilliseconds": heartbeat_seconds * 1000,
                "jitterDurationMilliseconds": heartbeat_seconds * 1000 + 5000,
            },
        ),
        _stage(
            "qd-pod-running",
            "Pod",
            [
                not_deleting,
                _expr(".status.phase", "In", "Pending"),
                _expr(".spec.nodeName", "Exists"),
            ],
            {"statusTemplate": _POD_RUNNING},
        ),
        _stage(
            "qd-pod-job-complete",
            "Pod",
            [
                not_deleting,
                _expr(".status.phase", "In", "Running"),
                _expr(_READY, "In", "True"),
                _expr(".metadata.ownerReferences.[].kind", "In", "Job"),
            ],
            {"statusTemplate": _POD_SUCCEEDED},
            {
                "durationMilliseconds": 1000,
                "durationFrom": {
                    "expressionFrom": f'.metadata.annotations["{DURATION_ANNOTATION}"]'
                },
            },
        ),
        _stage(
            "qd-pod-delete",
            "Pod",
            [_expr(".metadata.deletionTimestamp", "Exists")],
            {"delete": True},
        ),
    ]
