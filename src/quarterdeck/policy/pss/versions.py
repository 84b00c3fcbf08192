"""Pod Security levels and policy versions, as namespace labels and `-p` names spell them.

A version is `v1.N` or `latest`. Kubernetes accepts any `v1.N` in a namespace label
and judges a version newer than it knows by its newest rules; `qd check -p
pss-restricted@v1.N` refuses a version newer than the newest one we know instead,
naming the versions there are, because there a typo is more likely than a future.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Level = Literal["privileged", "baseline", "restricted"]
LEVELS: tuple[Level, ...] = ("privileged", "baseline", "restricted")
#: The newest policy version whose rules we know (the newest minimum version of a check).
NEWEST_MINOR = 37
_VERSION = re.compile(r"^v1\.([0-9]|[1-9][0-9]*)$")


class VersionError(ValueError):
    """A level or version that is not one; the message names what there is."""


@dataclass(frozen=True, slots=True, order=True)
class Version:
    """`v1.<minor>`; `minor=None` is `latest`, newer than every numbered version."""

    minor: int | None = None

    @property
    def latest(self) -> bool:
        return self.minor is None

    def __str__(self) -> str:
        return "latest" if self.minor is None else f"v1.{self.minor}"

    def effective(self, cap: int | None = None) -> int:
        """The minor whose rules apply: latest and newer-than-known fall to the newest
        known (or to `cap`, the API server's own minor, when predicting a cluster)."""
        top = NEWEST_MINOR if cap is None else min(cap, NEWEST_MINOR)
        return top if self.minor is None else min(self.minor, top)


LATEST = Version()


def parse_version(text: str) -> Version:
    """`latest` or `v1.N` (as Kubernetes parses the `-version` labels)."""
    if text == "latest":
        return LATEST
    match = _VERSION.match(text)
    if match is None:
        raise VersionError('must be "latest" or "v1.x"')
    return Version(int(match.group(1)))


def known_versions() -> str:
    return f"v1.0 to v1.{NEWEST_MINOR} and latest"


def parse_known_version(text: str) -> Version:
    """A version for `-p pss-LEVEL@VERSION`: refused, naming the versions, if unknown."""
    try:
        version = parse_version(text)
    except VersionError:
        version = None
    if version is None or (version.minor is not None and version.minor > NEWEST_MINOR):
        raise VersionError(f"unknown Pod Security version {text!r}: "
                           f"the versions are {known_versions()}")
    return version


@dataclass(frozen=True, slots=True)
class LevelVersion:
    level: Level
    version: Version = LATEST

    def __str__(self) -> str:
        return f"{self.level}:{self.version}"
