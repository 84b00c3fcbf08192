"""Prices per hour: per GPU model, per MIG profile, per CPU core and GiB of memory. Pure.

Prices are decimals, so a cost is exact to the cent and beyond. A MIG profile without
its own price costs its share of compute slices of the GPU's price (`3g.40gb` is 3/7 of
an A100); a model without a price is *unpriced*: reported as such, never as zero.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from quarterdeck.api.showback import PricingSpec

_SLICES = re.compile(r"^(\d)g\.")
MIG_SLICES = 7


class PricingError(ValueError):
    """A price that is not a non-negative decimal; the message names the field."""


def decimal(text: object, where: str) -> Decimal:
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation:
        raise PricingError(f"{where}: {text!r} is not a decimal price") from None
    if not value.is_finite() or value < 0:
        raise PricingError(f"{where}: {text!r} must be a price of 0 or more")
    return value


def mig_fraction(profile: str) -> float:
    """How much of a GPU's compute a MIG profile holds (its g-slices of 7)."""
    match = _SLICES.match(profile)
    return int(match.group(1)) / MIG_SLICES if match else 1.0


@dataclass(frozen=True)
class GpuPrice:
    per_hour: Decimal
    mig: Mapping[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True)
class Prices:
    currency: str = "USD"
    gpus: Mapping[str, GpuPrice] = field(default_factory=dict)
    cpu_core_hour: Decimal = Decimal(0)
    memory_gib_hour: Decimal = Decimal(0)

    def unit_price(self, model: str, mig_profile: str | None = None) -> Decimal | None:
        """The price of one unit: a GPU-hour, or for MIG an *instance*-hour; None: unpriced."""
        price = self.gpus.get(model)
        if price is None:
            return None
        if mig_profile is None:
            return price.per_hour
        if mig_profile in price.mig:
            return price.mig[mig_profile]
        match = _SLICES.match(mig_profile)
        slices = int(match.group(1)) if match else MIG_SLICES
        return price.per_hour * slices / MIG_SLICES


def unpriced_name(model: str, mig_profile: str | None) -> str:
    return model if mig_profile is None else f"{model}/{mig_profile}"


def from_pricing(spec: PricingSpec) -> Prices:
    """`Pricing.spec` as Prices; PricingError naming the field for a bad price or model."""
    gpus: dict[str, GpuPrice] = {}
    for i, g in enumerate(spec.gpus):
        where = f"spec.gpus[{i}]"
        if g.model in gpus:
            raise PricingError(f"{where}.model: {g.model!r} is priced twice")
        mig = {p: decimal(v, f"{where}.mig.{p}") for p, v in g.mig.items()}
        gpus[g.model] = GpuPrice(decimal(g.per_hour, f"{where}.perHour"), mig)
    return Prices(
        currency=spec.currency,
        gpus=gpus,
        cpu_core_hour=decimal(spec.cpu_per_core_hour, "spec.cpuPerCoreHour"),
        memory_gib_hour=decimal(spec.memory_per_gib_hour, "spec.memoryPerGiBHour"),
    )
