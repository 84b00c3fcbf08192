"""The notification controller inside ``qd operator``: CRDs, informers, one sender.

Started beside delivery while leading. It reads Providers, Alerts and Applications
from the shared informers and never writes to the API server (besides its CRDs), so
it adds no load to the reconcile path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from lightkube.generic_resource import create_namespaced_resource

if TYPE_CHECKING:  # the operator imports this module at start-up: keep it light
    from lightkube import Client

    from quarterdeck.api.notify import Alert, Provider
    from quarterdeck.kube.informer import SharedInformers
    from quarterdeck.notify.sender import Notifier
    from quarterdeck.operator import ControllerSpec, Operator

_GROUP, _VERSION = "notification.quarterdeck.dev", "v1alpha1"
ProviderRes = create_namespaced_resource(_GROUP, _VERSION, "Provider", "providers")
AlertRes = create_namespaced_resource(_GROUP, _VERSION, "Alert", "alerts")


def prepare_notify(op: Operator) -> None:
    """Install the Provider and Alert CRDs."""
    from quarterdeck.api import notify as api
    from quarterdeck.api.crd import crd
    from quarterdeck.kube.crds import install_crds

    if op.config.install_crds:
        install_crds(op.connect("quarterdeck-notify"), [crd(k) for k in api.KINDS], timeout=60)


#: The process's Notifier while the notify controller runs (the rollout controller and
#: showback publish through it).
current: Notifier | None = None


def start_notify(op: Operator) -> Callable[[float], None]:
    """The Notifier beside delivery, on the operator's informers."""
    global current
    notifier = run_beside(op.informers, op.connect("quarterdeck-notify"), op.config.namespace)
    current = notifier

    def stop(grace: float) -> None:
        global current
        current = None
        notifier.stop(grace)

    return stop


def run_beside(informers: SharedInformers, client: Client, namespace: str | None) -> Notifier:
    """Informers for Providers, Alerts and Applications, and a started Notifier fed by
    Application status changes (the operator's path, and the integration tests')."""
    import msgspec

    from quarterdeck.api import notify as api
    from quarterdeck.delivery.controller import ApplicationRes
    from quarterdeck.notify.sender import Notifier, secret_reader
    from quarterdeck.notify.watch import ApplicationEvents

    providers = informers.informer(ProviderRes, namespace)
    alerts = informers.informer(AlertRes, namespace)

    def decoded() -> tuple[Sequence[Alert], Sequence[Provider]]:
        out_a, out_p = [], []
        for raw in alerts.list():
            try:
                out_a.append(api.decode_alert(raw))
            except msgspec.ValidationError:
                continue
        for raw in providers.list():
            try:
                out_p.append(api.decode_provider(raw))
            except msgspec.ValidationError:
                continue
        return out_a, out_p

    notifier = Notifier(decoded, secret_reader(client))
    notifier.start()
    events = ApplicationEvents(notifier.publish)
    apps = informers.informer(ApplicationRes, namespace)
    apps.add_handler(events.handle)
    apps.wait_synced(30)
    events.replaying = False
    return notifier


def notify_spec() -> ControllerSpec:
    from quarterdeck.operator import ControllerSpec

    return ControllerSpec("notify", start_notify, prepare_notify)
