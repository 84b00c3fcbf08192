"""Sources fetched when due: the git half of the delivery controller.

A Source is fetched when its interval has passed or its spec changed; its
tenancy is checked before its Secret is read; the outcome (artifact or error)
goes to its status.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import msgspec
from lightkube import Client

from quarterdeck.api import delivery as api
from quarterdeck.api.duration import parse_duration
from quarterdeck.delivery.cluster import ClusterError
from quarterdeck.delivery.inventory import Owner
from quarterdeck.delivery.manifests import Obj
from quarterdeck.delivery.resources import SourceRes, read_credentials, rfc3339
from quarterdeck.delivery.source import Credentials, GitSource, SourceError
from quarterdeck.delivery.status import source_status
from quarterdeck.delivery.tenancy import Policy, source_refusal

StatusWriter = Callable[[Any, Owner, msgspec.Struct], None]


class SourceFetcher:
    """Fetches Sources when due and writes their status (through ``write_status``)."""

    def __init__(
        self,
        client: Client,
        git: GitSource,
        policy: Policy,
        write_status: StatusWriter,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.git = git
        self.policy = policy
        self.write_status = write_status
        self.clock = clock
        self._fetched: dict[Owner, tuple[float, int]] = {}

    def credentials(self, namespace: str, ref: Any) -> Credentials | None:
        return read_credentials(self.client, namespace, ref)

    def reconcile_source(self, raw: Obj, force: bool = False) -> api.Source:
        """Fetch a Source when due; write its status. Returns the Source as it now stands."""
        src = api.decode_source(raw)
        owner = Owner(src.metadata.namespace, src.metadata.name)
        now = self.clock()
        last, gen = self._fetched.get(owner, (0.0, -1))
        due = (
            force
            or gen != src.metadata.generation
            or now - last >= parse_duration(src.spec.interval)
        )
        if src.spec.suspend or not due:
            return src
        self._fetched[owner] = (now, src.metadata.generation)
        ref = src.spec.ref
        try:
            if refused := source_refusal(src, self.policy):  # before any Secret is read
                raise SourceError(refused)
            creds = self.credentials(owner.namespace, src.spec.secret_ref)
            rev = self.git.fetch(
                src.spec.url,
                branch=ref.branch,
                tag=ref.tag,
                semver=ref.semver,
                commit=ref.commit,
                credentials=creds,
            )
            artifact = api.Artifact(
                revision=rev.sha,
                ref=rev.ref,
                time=rev.time,
                author=rev.author,
                message=rev.message[:512],
            )
            status = source_status(src.status, artifact, "", src.metadata.generation, rfc3339(now))
        except (SourceError, ClusterError) as err:
            status = source_status(
                src.status, None, str(err), src.metadata.generation, rfc3339(now)
            )
        except Exception as err:  # a Secret lookup failing must not stop the controller
            status = source_status(
                src.status, None, f"secretRef: {err}", src.metadata.generation, rfc3339(now)
            )
        self.write_status(SourceRes, owner, status)
        return msgspec.structs.replace(src, status=status)

    def source_wake(self, owner: Owner, src: api.Source) -> float | None:
        """Seconds until ``src`` is due to be fetched again (None while suspended)."""
        if src.spec.suspend:
            return None
        last, _ = self._fetched.get(owner, (0.0, -1))
        return max(0.0, last + parse_duration(src.spec.interval) - self.clock())

    def forget_source(self, owner: Owner) -> None:
        """The Source is gone: fetch it afresh if it comes back."""
        self._fetched.pop(owner, None)
