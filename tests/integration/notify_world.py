"""Delivery with notifications beside it, as the notify and rollout tests start it: a
Source on a new repository, a Controller for the test's namespace, the notifier on its
own informers, and (for rollouts) a webhook receiver an Alert sends rollout events to."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from delivery_setup import install_crds, source
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Secret
from notify_receiver import Receiver, receiver

from gitrepo import Repo
from quarterdeck.delivery.controller import Controller
from quarterdeck.delivery.tenancy import LOCAL_REPOSITORIES
from quarterdeck.kube.informer import SharedInformers
from quarterdeck.notify.operator import run_beside
from quarterdeck.notify.sender import Notifier
from quarterdeck.rollout.controller import RolloutController

NOTIFY_API = "notification.quarterdeck.dev/v1alpha1"


@contextmanager
def notified(
    tmp_path: Path, kube: Client, namespace: str
) -> Iterator[tuple[Repo, Controller, Notifier]]:
    install_crds(kube)
    repo = Repo(tmp_path / "repo")
    ctl = Controller(kube, tmp_path / "cache", namespace=namespace, policy=LOCAL_REPOSITORIES)
    ctl.cluster.apply(source(namespace, repo.url))
    informers = SharedInformers(kube, threading.Event())
    informers.start()
    notifier = run_beside(informers, kube, namespace)
    try:
        yield repo, ctl, notifier
    finally:
        notifier.stop()
        informers.stop()


@contextmanager
def rollouts_notified(
    tmp_path: Path, kube: Client, namespace: str, alert: str, **alert_spec: Any
) -> Iterator[tuple[Repo, Controller, RolloutController, Receiver]]:
    """``notified`` with a RolloutController publishing to it, and Alert ``alert`` sending
    rollout-aborted and rollout-completed (``alert_spec`` adds to its spec) to a receiver."""
    with notified(tmp_path, kube, namespace) as (repo, ctl, notifier), receiver() as hook:
        rollouts = RolloutController(kube, namespace=namespace, publish=notifier.publish)
        kube.create(
            Secret(
                metadata=ObjectMeta(name="hook", namespace=namespace),
                stringData={"address": hook.url},
            )
        )
        for kind, name, spec in (
            ("Provider", "hook", {"type": "generic", "secretRef": {"name": "hook"}}),
            (
                "Alert",
                alert,
                {
                    "providerRef": {"name": "hook"},
                    "eventTypes": ["rollout-aborted", "rollout-completed"],
                    **alert_spec,
                },
            ),
        ):
            meta = {"name": name, "namespace": namespace}
            obj = {"apiVersion": NOTIFY_API, "kind": kind, "metadata": meta, "spec": spec}
            ctl.cluster.apply(obj)
        yield repo, ctl, rollouts, hook
