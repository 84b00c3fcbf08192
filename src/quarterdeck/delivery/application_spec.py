"""What an Application's spec means for one sync: target, options, retries, readiness.

Pure: each function reads the Application (and its Source) and returns plain data
the controller acts on.
"""

from __future__ import annotations

from quarterdeck.api import delivery as api
from quarterdeck.api.duration import parse_duration
from quarterdeck.api.meta import find_condition
from quarterdeck.delivery.health_cel import HealthRule
from quarterdeck.delivery.helm import settings_of
from quarterdeck.delivery.inventory import Owner
from quarterdeck.delivery.manifests import Key
from quarterdeck.delivery.pipeline import Target
from quarterdeck.delivery.render import Limits, Options
from quarterdeck.delivery.schedule import retry_delay
from quarterdeck.delivery.source import Credentials
from quarterdeck.delivery.sync import SyncOptions


def dependency_graph(apps: dict[Owner, api.Application]) -> dict[Owner, list[Owner]]:
    """Each Application's dependsOn as owners."""
    return {
        o: [Owner(d.namespace or o.namespace, d.name) for d in a.spec.depends_on]
        for o, a in apps.items()
    }


def backoff(app: api.Application, failures: int) -> float:
    """Seconds until the retry of ``app`` after ``failures`` failed syncs in a row."""
    spec = app.spec
    return retry_delay(parse_duration(spec.retry.interval), parse_duration(spec.interval), failures)


def delivery_of(
    app: api.Application,
    src: api.Source,
    revision: str,
    credentials: Credentials | None,
    limits: Limits | None = None,
) -> tuple[Target, SyncOptions]:
    """What to fetch and render, and how to sync it, for an Application at ``revision``
    (``limits``: the operator's bounds on the render, the defaults if not given)."""
    spec = app.spec
    render = Options(
        type=spec.render.type,
        target_namespace=spec.render.target_namespace,
        name_prefix=spec.render.name_prefix,
        allow_remote_bases=spec.render.allow_remote_bases,
        helm=settings_of(spec.render.helm, app.metadata.namespace),  # delivery: helm
        namespace=spec.render.target_namespace or app.metadata.namespace,
        limits=limits or Limits(),
    )
    target = Target(
        src.spec.url,
        path=spec.path,
        commit=revision,
        ignore=src.spec.ignore,
        credentials=credentials,
        render=render,
    )
    opts = SyncOptions(
        namespace=spec.render.target_namespace or app.metadata.namespace,
        prune=spec.prune,
        allow_empty=spec.prune_options.allow_empty,
        max_share=spec.prune_options.max_share,
        wait=spec.wait,
        timeout=parse_duration(spec.timeout),
        recreate_on_immutable=spec.recreate_on_immutable,
        health_rules=health_rules(app),
        health_checks=tuple(
            (
                r.api_version,
                Key(
                    r.api_version.rpartition("/")[0],
                    r.kind,
                    r.namespace or app.metadata.namespace,
                    r.name,
                ),
            )
            for r in spec.health_checks
        ),
    )
    return target, opts


def health_rules(app: api.Application) -> tuple[HealthRule, ...]:
    """The Application's CEL health expressions as rules."""
    return tuple(
        HealthRule(e.api_version, e.kind, e.current, e.failed) for e in app.spec.health_expressions
    )


def retries_exhausted(app: api.Application, revision: str) -> bool:
    """Whether ``app`` gave up on ``revision`` (only a new revision or spec retries)."""
    status = app.status
    stalled = find_condition(status.conditions, "Stalled") if status else None
    return (
        status is not None
        and stalled is not None
        and stalled.status == "True"
        and stalled.reason == "RetriesExhausted"
        and status.last_attempted_revision == revision
        and status.observed_generation == app.metadata.generation
    )


def is_ready(app: api.Application) -> bool:
    """Whether ``app`` says Ready=True (what a dependent waits for)."""
    cond = find_condition(app.status.conditions, "Ready") if app.status else None
    return cond is not None and cond.status == "True"
