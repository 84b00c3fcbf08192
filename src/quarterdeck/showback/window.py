"""OpenCost's `window` and `step` parameters, parsed against a given `now`: pure.

Accepted as OpenCost accepts them: a duration ending now (`30m`, `24h`, `7d`), the
calendar words `today`, `yesterday`, `week`, `lastweek`, `month`, `lastmonth` (UTC), a
pair of RFC 3339 times or of Unix seconds (`start,end`). Anything else is refused with
the field named, never guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_DURATION = re.compile(r"^(\d+)(m|h|d|w)$")
_UNIT = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class WindowError(ValueError):
    """A window or step the API cannot read; the message names the field."""


@dataclass(frozen=True)
class Window:
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start

    def iso(self) -> tuple[str, str]:
        return _iso(self.start), _iso(self.end)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def duration(text: str, field: str = "step") -> float:
    """`30m`, `1h`, `7d`, `2w` in seconds."""
    match = _DURATION.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise WindowError(f"{field}: {text!r} is not a duration; use forms like 30m, 1h, 7d")
    return int(match.group(1)) * _UNIT[match.group(2)]


def _day(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _point(text: str, field: str) -> float:
    value = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise WindowError(f"{field}: {text!r} is neither RFC 3339 nor Unix seconds") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def parse(text: str, now: float, field: str = "window") -> Window:
    """The window `text` names at `now`; WindowError naming `field` otherwise."""
    value = text.strip()
    if not value:
        raise WindowError(f"{field}: empty; use forms like 7d, 24h, today or START,END")
    if "," in value:
        a, b = value.split(",", 1)  # RFC 3339 keeps its case (T, Z)
        start, end = _point(a, field), _point(b, field)
        if end <= start:
            raise WindowError(f"{field}: {text!r} ends before it starts")
        return Window(start, end)
    if _DURATION.match(value.lower()):
        return Window(now - duration(value.lower(), field), now)
    today = _day(now)
    monday = today - timedelta(days=today.weekday())
    first = today.replace(day=1)
    words = {
        "today": (today, today + timedelta(days=1)),
        "yesterday": (today - timedelta(days=1), today),
        "week": (monday, monday + timedelta(days=7)),
        "lastweek": (monday - timedelta(days=7), monday),
        "month": (first, (first + timedelta(days=32)).replace(day=1)),
        "lastmonth": ((first - timedelta(days=1)).replace(day=1), first),
    }
    if value.lower() in words:
        a_dt, b_dt = words[value.lower()]
        return Window(a_dt.timestamp(), min(b_dt.timestamp(), max(now, a_dt.timestamp() + 1)))
    raise WindowError(
        f"{field}: {text!r} is not a window; use 30m, 24h, 7d, today, yesterday, week, "
        "lastweek, month, lastmonth or START,END"
    )


def steps(window: Window, step: float | None) -> list[Window]:
    """The window cut into consecutive steps (the last may be shorter); one if no step."""
    if step is None or step >= window.seconds:
        return [window]
    out, t = [], window.start
    while t < window.end:
        out.append(Window(t, min(t + step, window.end)))
        t += step
    return out
