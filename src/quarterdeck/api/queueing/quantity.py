"""Kubernetes quantities as exact integers in milli-units (the core never sees strings)."""

from __future__ import annotations

from lightkube.utils.quantity import parse_quantity

from quarterdeck.api.queueing.meta import Quantity


class QuantityError(ValueError):
    """A quantity that is malformed or negative; the message says where."""


def to_milli(value: Quantity, where: str) -> int:
    """Parse `value` ("8", 8, "500m", "32Gi") to milli-units; reject bad or negative input."""
    if isinstance(value, bool):
        raise QuantityError(f"{where}: expected a quantity, got {value!r}")
    try:
        parsed = parse_quantity(str(value))
    except ValueError as err:
        raise QuantityError(f"{where}: malformed quantity {value!r}") from err
    if parsed is None or parsed < 0:
        raise QuantityError(f"{where}: negative quantity {value!r}")
    milli = parsed * 1000
    if milli != milli.to_integral_value():
        raise QuantityError(f"{where}: quantity {value!r} is finer than 1m")
    return int(milli)


def from_milli(milli: int) -> Quantity:
    """A manifest value for `milli` (int when whole, else a milli string)."""
    return milli // 1000 if milli % 1000 == 0 else f"{milli}m"


__all__ = ["QuantityError", "from_milli", "to_milli"]
