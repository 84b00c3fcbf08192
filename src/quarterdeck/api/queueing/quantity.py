"""Kubernetes quantities as exact integers in milli-units (the core never sees strings)."""

from __future__ import annotations

import functools

from lightkube.utils.quantity import parse_quantity

from quarterdeck.api.queueing.meta import Quantity


class QuantityError(ValueError):
    """A quantity that is malformed or negative; the message says where."""


def to_milli(value: Quantity, where: str) -> int:
    """Parse `value` ("8", 8, "500m", "32Gi") to milli-units; reject bad or negative input."""
    if isinstance(value, bool):
        raise QuantityError(f"{where}: expected a quantity, got {value!r}")
    milli = _milli(str(value))
    if isinstance(milli, str):
        raise QuantityError(f"{where}: " + milli.format(value=repr(value)))
    return milli


@functools.lru_cache(maxsize=4096)
def _milli(text: str) -> int | str:
    """Milli-units of `text`, or what is wrong with it (`{value}` stands for it).
    Cached: a controller pass reads the same few quantities of thousands of Workloads,
    and the Decimal parse was the bulk of building its snapshot."""
    try:
        parsed = parse_quantity(text)
    except ValueError:
        return "malformed quantity {value}"
    if parsed is None or parsed < 0:
        return "negative quantity {value}"
    milli = parsed * 1000
    if milli != milli.to_integral_value():
        return "quantity {value} is finer than 1m"
    return int(milli)


def from_milli(milli: int) -> Quantity:
    """A manifest value for `milli` (int when whole, else a milli string)."""
    return milli // 1000 if milli % 1000 == 0 else f"{milli}m"


__all__ = ["QuantityError", "from_milli", "to_milli"]
