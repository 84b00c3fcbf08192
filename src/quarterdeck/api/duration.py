"""Go-style durations (``30s``, ``5m``, ``1h30m``) as used in Flux and Kubernetes specs.

Parsing is strict: a negative or empty duration is a user error with a message
that names the bad value, never a silent zero.
"""

from __future__ import annotations

import re

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"


class DurationError(ValueError):
    """A duration string that is not a positive Go duration."""


def parse_duration(text: str) -> float:
    """Seconds in ``text``; raises DurationError for anything but a positive duration."""
    raw = text.strip()
    if raw.startswith("-"):
        raise DurationError(f"duration {text!r} is negative; use a positive value like 5m")
    pos = 0
    total = 0.0
    for match in _PART.finditer(raw):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if not raw or pos != len(raw):
        raise DurationError(f"duration {text!r} is not valid; use forms like 30s, 5m or 1h30m")
    if total <= 0:
        raise DurationError(f"duration {text!r} must be greater than zero")
    return total
