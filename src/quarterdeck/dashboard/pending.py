"""The diff of a pending commit: what a sync of the Source's newest revision would change.

A commit is pending when the Source has fetched a revision the Application has not
applied yet (it is suspended, waits on a dependency, or its sync is still running). The
diff is `qd diff APP`'s: delivery's own `deliver` (fetch, render, plan) as a server-side
dry run, and `qd diff`'s `diff_actions` and `object_diffs` (live against dry-run, as
`kubectl diff` shows it). Nothing is diffed here.

Git and the dry run take seconds, so a page view never waits for them: the first view
of a pending commit queues it on one worker thread and shows "computing"; the result is
kept by (Application, revision, applied revision, generation) and the worker tells the
page's event stream when it is done, so the page swaps the diff in. A Secret's diff is
never kept (only that it would change), and each object's diff is shown only to a
user who may `get` that object.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import msgspec
import structlog
from lightkube import Client

from quarterdeck.api import delivery as api
from quarterdeck.delivery.application_spec import delivery_of
from quarterdeck.delivery.cluster import Cluster, ClusterError, UnknownKind
from quarterdeck.delivery.inventory import Owner
from quarterdeck.delivery.pipeline import deliver
from quarterdeck.delivery.resources import read_credentials
from quarterdeck.delivery.source import GitSource
from quarterdeck.delivery.status import entries

log = structlog.get_logger("quarterdeck.dashboard")
Obj = Mapping[str, Any]
Key = tuple[str, str, str, str, int]  # namespace, name, revision, applied revision, generation
KEPT = 256  # results kept (the oldest are dropped)
RETRY = 60.0  # seconds after which a failed diff is computed again on the next view
SECRET_HIDDEN = "(a Secret: its data is never shown)"


def pending_revision(app: Obj, source: Obj | None) -> str:
    """The Source's newest revision when the Application has not applied it (and is not
    pinned to another one); "" when nothing is pending."""
    if source is None or (app.get("spec") or {}).get("revision"):
        return ""
    fetched = str(((source.get("status") or {}).get("artifact") or {}).get("revision") or "")
    applied = str((app.get("status") or {}).get("lastAppliedRevision") or "")
    return fetched if fetched and fetched != applied else ""


def key_of(app: Obj, revision: str) -> Key:
    meta = app.get("metadata") or {}
    return (str(meta.get("namespace", "")), str(meta.get("name", "")), revision,
            str((app.get("status") or {}).get("lastAppliedRevision") or ""),
            int(meta.get("generation") or 0))


class PendingDiffs:
    """Pending commits' diffs, computed by one worker thread with the dashboard's client;
    `on_done(namespace, name)` is called when one is ready (the live pages' hub)."""

    def __init__(self, client: Client, on_done: Callable[[str, str], None] | None = None
                 ) -> None:
        self.cluster = Cluster(client)
        self.on_done = on_done
        self._dir = Path(tempfile.mkdtemp(prefix="qd-dashboard-git-"))
        self._git = GitSource(self._dir)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pending-diff")
        self._lock = threading.Lock()
        self._results: OrderedDict[Key, dict[str, Any]] = OrderedDict()

    def get(self, app: Obj, source: Obj | None) -> dict[str, Any] | None:
        """The pending commit's diff as far as it is known (None when nothing is pending);
        queues its computation on first sight, never waits for it."""
        revision = pending_revision(app, source)
        if not revision:
            return None
        key = key_of(app, revision)
        with self._lock:
            found = self._results.get(key)
            if found is not None and found["state"] == "failed" and (
                    time.monotonic() - found.get("finished", 0.0) > RETRY):
                found = None  # git or the API server may answer now
            if found is None:
                found = {"revision": revision, "state": "computing", "objects": [],
                         "errors": [], "computedAt": ""}
                self._results[key] = found
                while len(self._results) > KEPT:
                    self._results.popitem(last=False)
                self._pool.submit(self._compute, key, dict(app), dict(source or {}))
        artifact = ((source or {}).get("status") or {}).get("artifact") or {}
        shown = {k: v for k, v in found.items() if k != "finished"}
        return {**shown, "message": artifact.get("message", ""),
                "author": artifact.get("author", "")}

    def _compute(self, key: Key, app: dict[str, Any], source: dict[str, Any]) -> None:
        try:
            out = self._diff(app, source, key[2])
        except Exception as err:  # shown on the page: one line, never a traceback
            log.warning("pending diff failed", application=f"{key[0]}/{key[1]}",
                        error=f"{type(err).__name__}: {err}")
            out = {"state": "failed", "objects": [], "errors": [f"{type(err).__name__}: {err}"]}
        out["computedAt"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        out["finished"] = time.monotonic()
        with self._lock:
            if key in self._results:
                self._results[key] = {**self._results[key], **out}
        if self.on_done is not None:
            self.on_done(key[0], key[1])

    def _diff(self, raw_app: dict[str, Any], raw_source: dict[str, Any], revision: str
              ) -> dict[str, Any]:
        """`qd diff APP` at `revision`, as plain data (the same steps as `diff_app`)."""
        from quarterdeck.cli.delivery_cluster import diff_actions, object_diffs

        try:
            app = api.decode_application(raw_app)
            src = api.decode_source(raw_source)
        except msgspec.ValidationError as err:
            return {"state": "failed", "objects": [], "errors": [f"invalid object: {err}"]}
        ns, name = app.metadata.namespace, app.metadata.name
        creds = read_credentials(self.cluster.client, ns, src.spec.secret_ref)
        target, opts = delivery_of(app, src, revision, creds)
        opts = dataclasses.replace(opts, dry_run=True, wait=False)
        inventory = entries(app.status.inventory if app.status else [])
        done = deliver(self.cluster, self._git, target, Owner(ns, name), inventory, opts)
        result = done.result
        if not result.ok:
            return {"state": "failed", "objects": [], "errors": list(result.errors)}
        texts = object_diffs(self.cluster, result)
        where = {str(a.key): (a.key, a.api_version) for a in result.plan.applies}
        where |= {str(p.key): (p.key, p.api_version) for p in result.plan.prunes}
        objects = []
        for label, action in diff_actions(result):
            if action in ("unchanged", "kept") or label not in where:
                continue
            obj_key, api_version = where[label]
            secret = (obj_key.group, obj_key.kind) == ("", "Secret")
            try:
                resource = self.cluster.kind(api_version, obj_key.kind).plural
            except (UnknownKind, ClusterError):  # unknown to the server: nobody may get it
                resource = ""
            objects.append({
                "object": label, "action": action, "group": obj_key.group,
                "resource": resource,
                "namespace": obj_key.namespace, "name": obj_key.name,
                "diff": SECRET_HIDDEN if secret else texts.get(label, ""),
            })
        return {"state": "ready", "objects": objects, "errors": []}

    def stop(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        shutil.rmtree(self._dir, ignore_errors=True)
