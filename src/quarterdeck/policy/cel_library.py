"""Engine-neutral declarations of the Kubernetes CEL functions we provide.

Each overload is a plain Python callable plus a signature written in CEL type names,
so any CEL backend (cel-expr-python today, cel-python as the fallback) can register
the same implementations. Kubernetes' opaque types (Quantity, IP, CIDR, URL) travel
as one-key maps tagged with `@quantity`, `@ip`, `@cidr`, `@url`: CEL backends without
custom value types can still pass them around, and `==` compares canonical forms.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

CelType = Literal["string", "int", "double", "bool", "dyn", "list", "map", "list_string"]


class CelFunctionError(ValueError):
    """Raised by a library function; the backend turns it into a CEL error value."""


@dataclass(frozen=True, slots=True)
class Overload:
    """One overload of a CEL function (member overloads take the receiver first)."""

    function: str
    overload_id: str
    params: tuple[CelType, ...]
    result: CelType
    impl: Callable[..., Any]
    member: bool = False


def tagged(tag: str, value: str) -> dict[str, str]:
    """An opaque Kubernetes CEL value, e.g. {'@ip': '10.0.0.1'}."""
    return {tag: value}


def untag(tag: str, value: Any, what: str) -> str:
    """The payload of an opaque value, or a CEL error naming the expected type."""
    if isinstance(value, dict) and tag in value:
        payload = value[tag]
        if isinstance(payload, str):
            return payload
    raise CelFunctionError(f"no such overload: expected {what}, got {type(value).__name__}")


def all_overloads() -> list[Overload]:
    """Every Kubernetes CEL function overload we implement."""
    from quarterdeck.policy import k8s_lists, k8s_network, k8s_quantity

    return [*k8s_quantity.OVERLOADS, *k8s_lists.OVERLOADS, *k8s_network.OVERLOADS]
