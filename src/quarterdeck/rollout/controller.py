"""The rollout controller: each pass reads every Rollout and its Deployments, asks
``decide`` what to do, measures when asked, carries the decision out, records status.

Deployments are applied with server-side apply; the blue/green Service selector and
HTTPRoute weights are patched under a field manager of their own
(``quarterdeck-rollout``) so the Application that owns the Service keeps its fields.
An abort or a completion is an Event on the Rollout and a notice for the Application
that synced it (``rollout-aborted`` / ``rollout-completed``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec
from lightkube import Client
from lightkube.generic_resource import create_namespaced_resource
from lightkube.types import CascadeType, PatchType

from quarterdeck.api import delivery as delivery_api
from quarterdeck.api import rollout as api
from quarterdeck.api.duration import parse_duration
from quarterdeck.delivery.cluster import Cluster, ClusterError, UnknownKind, call_api
from quarterdeck.delivery.inventory import Owner, owner_of
from quarterdeck.delivery.manifests import Key
from quarterdeck.kube.events import EventRecorder
from quarterdeck.notify.notice import Notice, notice
from quarterdeck.rollout.analysis import measure, prometheus_value
from quarterdeck.rollout.decide import ROLE_LABEL, Decision, decide

FIELD_MANAGER = "quarterdeck-rollout"
RolloutRes = create_namespaced_resource(api.GROUP, api.VERSION, "Rollout", "rollouts")


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class RolloutController:
    """Reconciles Rollouts of one cluster (or one namespace)."""

    def __init__(
        self,
        client: Client,
        namespace: str | None = None,
        clock: Callable[[], float] = time.time,
        publish: Callable[[Notice], object] | None = None,
        query: Callable[[str, str], float] = prometheus_value,
    ) -> None:
        self.client = client
        self.cluster = Cluster(client)
        self.namespace = namespace
        self.clock = clock
        self.publish = publish or (lambda item: None)
        self.query = query
        self.events = EventRecorder(client, FIELD_MANAGER, clock)

    def reconcile_all(self) -> dict[tuple[str, str], api.Rollout]:
        out = {}
        for raw in self.client.list(RolloutRes, namespace=self.namespace or "*"):
            obj = dict(raw)
            try:
                rollout = api.decode_rollout(obj)
            except msgspec.ValidationError:
                continue  # the API server's schema refuses most of these; nothing to roll
            out[(rollout.metadata.namespace, rollout.metadata.name)] = self.reconcile(rollout)
        return out

    def reconcile(self, rollout: api.Rollout) -> api.Rollout:
        """One move of one Rollout; returns it with the status written."""
        meta = rollout.metadata
        stable = self.cluster.get("apps/v1", Key("apps", "Deployment", meta.namespace, meta.name))
        canary = self.cluster.get(
            "apps/v1", Key("apps", "Deployment", meta.namespace, f"{meta.name}-canary")
        )
        now = self.clock()
        analysis = rollout.spec.analysis
        interval = parse_duration(analysis.interval) if analysis else 0.0
        pause = self._pause(rollout)
        decision = decide(rollout, stable, canary, [], now, pause, interval)
        if decision.measure:
            status = decision.status
            taken = measure(
                self.cluster,
                rollout,
                status.canary_revision,
                status.current_step,
                rfc3339(now),
                self.query,
            )
            decision = decide(rollout, stable, canary, taken, now, pause, interval)
        self._carry_out(rollout, decision)
        self._write_status(rollout, decision.status)
        done = msgspec.structs.replace(rollout, status=decision.status)
        for reason, message in decision.events:
            self._announce(done, reason, message)
        return done

    def _pause(self, rollout: api.Rollout) -> float:
        status = rollout.status or api.RolloutStatus()
        canary = rollout.spec.strategy.canary
        steps = canary.steps if canary else []
        if status.current_step < len(steps) and steps[status.current_step].pause is not None:
            return parse_duration(steps[status.current_step].pause.duration)  # type: ignore[union-attr]
        return 0.0

    def _carry_out(self, rollout: api.Rollout, decision: Decision) -> None:
        meta = rollout.metadata
        for obj in decision.apply:
            self.cluster.apply(obj)
        for name in decision.delete:
            self._delete(name, meta.namespace)
        blue_green = rollout.spec.strategy.blue_green
        if blue_green is not None and decision.service_role:
            self._select(rollout, blue_green.active_service, decision.service_role)
            if blue_green.preview_service:
                self._select(rollout, blue_green.preview_service, "canary")
        canary = rollout.spec.strategy.canary
        route = canary.traffic_routing.http_route if canary and canary.traffic_routing else None
        if route is not None and decision.route_weight is not None:
            self._set_weights(meta.namespace, route, decision.route_weight)

    def _select(self, rollout: api.Rollout, service: str, role: str) -> None:
        """Point a blue/green Service at ``role``: ``spec.selector`` is an atomic map, so
        it is sent whole (the Rollout's matchLabels plus the role) and is ours alone
        (``quarterdeck.rollout.ownership``). A Service not created yet is left alone."""
        meta = rollout.metadata
        live = self.cluster.get("v1", Key("", "Service", meta.namespace, service))
        if live is None:
            return
        match = rollout.spec.selector.get("matchLabels") or {}
        selector = {**{str(k): str(v) for k, v in match.items()}, ROLE_LABEL: role}
        if (live.get("spec") or {}).get("selector") != selector:
            self._patch("v1", "Service", service, meta.namespace, {"spec": {"selector": selector}})

    def _delete(self, name: str, namespace: str) -> None:
        cls = self.cluster.resource("apps/v1", "Deployment")
        try:
            call_api(
                lambda: self.client.delete(
                    cls, name, namespace=namespace, cascade=CascadeType.BACKGROUND
                )
            )
        except ClusterError as err:
            if err.code != 404:
                raise

    def _patch(
        self, api_version: str, kind: str, name: str, namespace: str, body: dict[str, Any]
    ) -> None:
        """Server-side apply of a few fields under our own field manager."""
        cls = self.cluster.resource(api_version, kind)
        patch = {"apiVersion": api_version, "kind": kind, "metadata": {"name": name}, **body}
        call_api(
            lambda: self.client.patch(
                cls,
                name,
                patch,
                namespace=namespace,
                patch_type=PatchType.APPLY,
                field_manager=FIELD_MANAGER,
                force=True,
            )
        )

    def _set_weights(self, namespace: str, route: api.HTTPRouteRouting, weight: int) -> None:
        """HTTPRoute backend weights stable/canary; a missing route is left alone (the
        replica ratio still holds)."""
        version = "gateway.networking.k8s.io/v1"
        live = self.cluster.get(
            version, Key("gateway.networking.k8s.io", "HTTPRoute", namespace, route.name)
        )
        if live is None:
            return
        rules = []
        for rule in (live.get("spec") or {}).get("rules") or [{}]:
            refs = [
                {
                    "name": route.stable_service,
                    "port": _port(rule, route.stable_service),
                    "weight": 100 - weight,
                },
                {
                    "name": route.canary_service,
                    "port": _port(rule, route.stable_service),
                    "weight": weight,
                },
            ]
            rules.append({**rule, "backendRefs": refs})
        self._patch(version, "HTTPRoute", route.name, namespace, {"spec": {"rules": rules}})

    def _write_status(self, rollout: api.Rollout, status: api.RolloutStatus) -> None:
        if status == rollout.status:
            return
        # every field, defaults too: a merge patch keeps whatever it is not sent
        body = {
            "status": {
                f.encode_name: msgspec.to_builtins(getattr(status, f.name))
                for f in msgspec.structs.fields(status)
            }
        }
        meta = rollout.metadata
        call_api(
            lambda: self.client.patch(
                RolloutRes.Status,
                meta.name,
                body,
                namespace=meta.namespace,
                patch_type=PatchType.MERGE,
            )
        )

    def _announce(self, rollout: api.Rollout, reason: str, message: str) -> None:
        """An Event on the Rollout and a notice for its Application."""
        meta = rollout.metadata
        regarding = {
            "apiVersion": api.API_VERSION,
            "kind": "Rollout",
            "metadata": {"name": meta.name, "namespace": meta.namespace, "uid": meta.uid},
        }
        aborted = reason == "RolloutAborted"
        self.events.event(regarding, "Warning" if aborted else "Normal", reason, message)
        owner = owner_of({"metadata": {"labels": meta.labels}})
        kind, namespace, name = (
            ("Application", owner.namespace, owner.name)
            if owner is not None
            else ("Rollout", meta.namespace, meta.name)
        )
        labels, revision = self._application_labels(owner) if owner else (meta.labels, "")
        self.publish(
            notice(
                "rollout-aborted" if aborted else "rollout-completed",
                kind,
                namespace,
                name,
                f"Rollout {meta.namespace}/{meta.name}: {message}",
                severity="error" if aborted else "info",
                revision=revision,
                time=rfc3339(self.clock()),
                labels=labels,
            )
        )

    def _application_labels(self, owner: Owner) -> tuple[dict[str, str], str]:
        """The owning Application's labels (so an Alert's ``matchLabels`` selects its
        rollout notices as it selects its other ones) and its applied revision; none
        when it cannot be read (the notice still goes, unlabelled)."""
        key = Key(delivery_api.GROUP, "Application", owner.namespace, owner.name)
        try:
            app = self.cluster.get(delivery_api.API_VERSION, key)
        except (ClusterError, UnknownKind):
            return {}, ""
        meta = (app or {}).get("metadata") or {}
        status = (app or {}).get("status") or {}
        return dict(meta.get("labels") or {}), str(status.get("lastAppliedRevision") or "")

    def run(self, stop: threading.Event, tick: float = 1.0) -> None:
        """Passes until ``stop``; an error in one pass is logged and the next one runs."""
        while not stop.wait(tick):
            try:
                self.reconcile_all()
            except Exception as err:  # the next pass retries; the operator stays up
                print(f"rollout: pass failed: {type(err).__name__}: {err}", flush=True)


def _port(rule: dict[str, Any], service: str) -> int:
    for ref in rule.get("backendRefs") or []:
        if ref.get("name") == service and ref.get("port"):
            return int(ref["port"])
    return 80
