"""Taking one round of measurements: a PromQL query, a CEL expression, a Job's outcome.

The shell side of analysis. A Prometheus query must give one number (a scalar, or a
vector of one sample); ``successCondition`` is CEL over ``result`` (a double), in the
same engine as guardrails and health. A CEL metric reads one object of the Rollout's
namespace. A Job metric creates one Job per step (named by the Rollout, the template
hash and the step) and counts once it has finished: Complete passes, Failed breaches.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Literal

import httpx

from quarterdeck.api.rollout import Measurement, Metric, Rollout
from quarterdeck.delivery.cluster import Cluster, ClusterError, UnknownKind
from quarterdeck.delivery.hooks import hook_state
from quarterdeck.delivery.manifests import Key
from quarterdeck.policy.cel_engine import CelCompileError, CelEvaluationError, default_cache

Obj = dict[str, Any]


def cel_holds(expression: str, variables: Mapping[str, Any]) -> bool:
    """A CEL expression that must give a bool, over ``variables``."""
    cache = default_cache()
    program = cache.get(expression, tuple(variables))
    value = program.evaluate(cache.backend.activation(dict(variables)))
    if not isinstance(value, bool):
        raise CelEvaluationError(f"{expression!r} gave {type(value).__name__}, not a bool")
    return value


def prometheus_value(address: str, query: str, timeout: float = 5.0) -> float:
    """One number from an instant query; ValueError when the answer is not one number."""
    response = httpx.get(
        f"{address.rstrip('/')}/api/v1/query",
        params={"query": query},
        timeout=timeout,
        trust_env=False,
    )
    body = response.json()
    if body.get("status") != "success":
        raise ValueError(f"prometheus: {body.get('error', response.status_code)}")
    data = body.get("data") or {}
    result = data.get("result")
    if data.get("resultType") == "scalar" and isinstance(result, list):
        return float(result[1])
    if data.get("resultType") == "vector" and isinstance(result, list) and len(result) == 1:
        return float(result[0]["value"][1])
    count = len(result) if isinstance(result, list) else "no"
    raise ValueError(f"prometheus query {query!r} gave {count} samples, not one")


def job_name(rollout: Rollout, revision: str, step: int) -> str:
    return f"{rollout.metadata.name}-analysis-{revision[:8]}-{step}"[:63].rstrip("-")


def _job(cluster: Cluster, rollout: Rollout, metric: Metric, revision: str, step: int) -> Obj:
    """The step's analysis Job, created on first ask."""
    assert metric.job is not None
    name = job_name(rollout, revision, step)
    key = Key("batch", "Job", rollout.metadata.namespace, name)
    live = cluster.get("batch/v1", key)
    if live is not None:
        return live
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": rollout.metadata.namespace,
            "ownerReferences": [
                {
                    "apiVersion": rollout.api_version,
                    "kind": "Rollout",
                    "name": rollout.metadata.name,
                    "uid": rollout.metadata.uid,
                }
            ],
        },
        "spec": {"backoffLimit": 0, "template": metric.job.template},
    }
    return cluster.apply(job)


def measure(
    cluster: Cluster,
    rollout: Rollout,
    revision: str,
    step: int,
    now: str,
    get_value: Callable[[str, str], float] = prometheus_value,
) -> list[Measurement]:
    """One measurement per metric; a Job still running gives none (asked again later)."""
    analysis = rollout.spec.analysis
    out: list[Measurement] = []
    for metric in analysis.metrics if analysis else []:

        def record(
            phase: Literal["Successful", "Failed", "Error"], value: str, metric: Metric = metric
        ) -> None:
            out.append(
                Measurement(metric=metric.name, phase=phase, value=value, time=now, step=step)
            )  # type: ignore[arg-type]

        try:
            if metric.prometheus is not None:
                result = get_value(metric.prometheus.address, metric.prometheus.query)
                condition = metric.success_condition or "true"
                ok = not math.isnan(result) and cel_holds(condition, {"result": result})
                record("Successful" if ok else "Failed", f"result {result:g} ({condition})")
            elif metric.cel is not None:
                ref = metric.cel
                key = Key(
                    ref.api_version.rpartition("/")[0],
                    ref.kind,
                    rollout.metadata.namespace,
                    ref.name,
                )
                obj = cluster.get(ref.api_version, key)
                if obj is None:
                    record("Error", f"{ref.kind} {ref.name} does not exist")
                else:
                    ok = cel_holds(ref.expression, {"object": obj})
                    record("Successful" if ok else "Failed", f"{ref.expression} is {ok}")
            elif metric.job is not None:
                state, message = hook_state(_job(cluster, rollout, metric, revision, step))
                if state != "Running":
                    record("Successful" if state == "Succeeded" else "Failed", f"job {message}")
            else:
                record("Error", "metric has no prometheus, cel or job")
        except (ClusterError, UnknownKind, CelCompileError, CelEvaluationError, ValueError) as err:
            record("Error", str(err)[:300])
        except httpx.HTTPError as err:
            record("Error", f"prometheus: {type(err).__name__}: {err}"[:300])
    return out
