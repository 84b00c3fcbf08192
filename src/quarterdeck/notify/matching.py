"""Which Alerts take a notice: pure, by event type and by event source.

An event source matches by kind, name (a shell-style pattern, ``*`` for all),
namespace (the Alert's own unless given; ``*`` for all) and labels (every
``matchLabels`` pair present), as Flux's Alert ``eventSources`` do.
"""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase

from quarterdeck.api.notify import Alert, EventSource
from quarterdeck.notify.notice import Notice


def source_matches(source: EventSource, alert_namespace: str, item: Notice) -> bool:
    """Whether ``item``'s object is one ``source`` names."""
    namespace = source.namespace or alert_namespace
    return (
        source.kind == item.kind
        and (namespace == "*" or namespace == item.namespace)
        and fnmatchcase(item.name, source.name or "*")
        and all(item.labels.get(k) == v for k, v in source.match_labels.items())
    )


def takes(alert: Alert, item: Notice) -> bool:
    """Whether ``alert`` sends ``item``."""
    spec = alert.spec
    if spec.suspend or (spec.event_types and item.event not in spec.event_types):
        return False
    return any(source_matches(s, alert.metadata.namespace, item) for s in spec.event_sources)


def matching(alerts: Iterable[Alert], item: Notice) -> list[Alert]:
    """The Alerts that send ``item``, in name order."""
    found = [a for a in alerts if takes(a, item)]
    return sorted(found, key=lambda a: (a.metadata.namespace, a.metadata.name))
