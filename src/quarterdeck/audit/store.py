"""Where an Application's audit trail is kept: a ConfigMap beside it, one JSON entry a
line, appended by the operator (self-heal) and by `qd incident`; read by `qd audit`.

Kubernetes keeps no history of its own (Events expire within hours, managedFields
forget an edit once self-heal takes the fields back), so the trail is written when
things happen. Bounded: the newest MAX_ENTRIES entries are kept.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from quarterdeck.audit.record import Entry, entry_of

if TYPE_CHECKING:
    from lightkube import Client

DATA_KEY = "trail.jsonl"
MAX_ENTRIES = 2000
LABELS = {"app.kubernetes.io/managed-by": "quarterdeck", "audit.quarterdeck.dev/trail": "true"}


def name_for(app: str) -> str:
    return f"qd-audit-{app}"[:253]


def read(client: Client, namespace: str, app: str) -> list[Entry]:
    """The trail, oldest first (empty when nothing was recorded yet)."""
    from lightkube.core.exceptions import ApiError
    from lightkube.resources.core_v1 import ConfigMap

    try:
        cm = client.get(ConfigMap, name_for(app), namespace=namespace)
    except ApiError as err:
        if err.status.code == 404:
            return []
        raise
    text = (cm.data or {}).get(DATA_KEY, "")
    return [entry_of(json.loads(line)) for line in text.splitlines() if line.strip()]


def append(client: Client, namespace: str, app: str, entries: list[Entry]) -> None:
    """Add entries; a concurrent writer (409) makes us read and add again, at most 5 times."""
    from lightkube.core.exceptions import ApiError
    from lightkube.models.meta_v1 import ObjectMeta
    from lightkube.resources.core_v1 import ConfigMap

    if not entries:
        return
    lines = [json.dumps(e.to_json(), sort_keys=True) for e in entries]
    for _ in range(5):
        try:
            cm = client.get(ConfigMap, name_for(app), namespace=namespace)
        except ApiError as err:
            if err.status.code != 404:
                raise
            body = ConfigMap(metadata=ObjectMeta(name=name_for(app), namespace=namespace,
                                                 labels=LABELS), data={DATA_KEY: ""})
            try:
                cm = client.create(body)
            except ApiError as again:
                if again.status.code != 409:
                    raise
                continue
        old = [line for line in (cm.data or {}).get(DATA_KEY, "").splitlines() if line]
        cm.data = {**(cm.data or {}), DATA_KEY: "\n".join([*old, *lines][-MAX_ENTRIES:]) + "\n"}
        try:
            client.replace(cm)
            return
        except ApiError as err:
            if err.status.code != 409:
                raise
    raise RuntimeError(f"audit trail {namespace}/{name_for(app)}: too many concurrent writers")
