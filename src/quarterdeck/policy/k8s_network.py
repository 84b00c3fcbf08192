"""The Kubernetes CEL URL, IP and CIDR libraries, on urllib.parse and ipaddress.

Semantics follow Go's net/url and net/netip as the API server uses them: IPv4-mapped
IPv6 and zoned addresses are rejected, `isGlobalUnicast` is Go's definition (private
ranges count), and a CIDR keeps its address bits until `masked()`.
"""

from __future__ import annotations

import ipaddress
import urllib.parse
from typing import Any

from quarterdeck.policy.cel_library import CelFunctionError, Overload, tagged, untag

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface


# --- URL -------------------------------------------------------------------------------

def _parse_url(text: str) -> urllib.parse.SplitResult:
    try:
        parts = urllib.parse.urlsplit(text)
        _ = parts.port  # validates the port
    except ValueError as err:
        raise CelFunctionError(f"URL parse error during conversion from string: {err}") from None
    if not parts.scheme and not text.startswith("/"):
        raise CelFunctionError(f"URL must be absolute (a scheme or a leading /): {text!r}")
    host = parts.netloc.rsplit("@", 1)[-1]
    if host.count(":") > 1 and not host.startswith("["):
        raise CelFunctionError(f"invalid port in URL {text!r}")
    return parts


def url(text: str) -> dict[str, str]:
    _parse_url(text)
    return tagged("@url", text)


def is_url(text: str) -> bool:
    try:
        _parse_url(text)
    except CelFunctionError:
        return False
    return True


def _url(value: Any) -> urllib.parse.SplitResult:
    return _parse_url(untag("@url", value, "URL"))


def get_scheme(u: Any) -> str:
    return _url(u).scheme


def get_host(u: Any) -> str:
    return _url(u).netloc.rsplit("@", 1)[-1]


def get_hostname(u: Any) -> str:
    host = get_host(u)
    if host.startswith("["):
        return host[1 : host.index("]")]
    return host.split(":", 1)[0]


def get_port(u: Any) -> str:
    host = get_host(u)
    tail = host[host.index("]") + 1 :] if host.startswith("[") else host
    return tail.split(":", 1)[1] if ":" in tail else ""


def get_escaped_path(u: Any) -> str:
    return urllib.parse.quote(_url(u).path, safe="/$&+,:;=@!*'()~%")


def get_query(u: Any) -> dict[str, list[str]]:
    return urllib.parse.parse_qs(_url(u).query, keep_blank_values=True)


# --- IP --------------------------------------------------------------------------------

def parse_ip(text: str) -> IPAddress:
    if "%" in text:
        raise CelFunctionError(f"IP address with zone value is not allowed: {text!r}")
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        raise CelFunctionError(f"IP Address {text!r} parse error") from None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        raise CelFunctionError(f"IPv4-mapped IPv6 address {text!r} is not allowed")
    return addr


def _ip(value: Any) -> IPAddress:
    return ipaddress.ip_address(untag("@ip", value, "IP"))


def ip(text: str) -> dict[str, str]:
    return tagged("@ip", str(parse_ip(text)))


def is_ip(text: str) -> bool:
    try:
        parse_ip(text)
    except CelFunctionError:
        return False
    return True


def is_canonical(text: str) -> bool:
    return str(parse_ip(text)) == text


def family(v: Any) -> int:
    return _ip(v).version


def is_global_unicast(v: Any) -> bool:
    addr = _ip(v)
    broadcast = addr == ipaddress.IPv4Address("255.255.255.255")
    return not (
        addr.is_unspecified or addr.is_loopback or addr.is_multicast
        or addr.is_link_local or broadcast
    )


def is_link_local_multicast(v: Any) -> bool:
    addr = _ip(v)
    if isinstance(addr, ipaddress.IPv4Address):
        return addr in ipaddress.IPv4Network("224.0.0.0/24")
    return addr.is_multicast and (addr.packed[1] & 0x0F) == 0x02


# --- CIDR ------------------------------------------------------------------------------

def parse_cidr(text: str) -> IPInterface:
    address, _, prefix = text.partition("/")
    parse_ip(address)
    if not prefix.isdigit():
        raise CelFunctionError(f"network address parse error during conversion: {text!r}")
    try:
        return ipaddress.ip_interface(text)
    except ValueError:
        raise CelFunctionError(f"network address parse error during conversion: {text!r}") from None


def _cidr(value: Any) -> IPInterface:
    return ipaddress.ip_interface(untag("@cidr", value, "CIDR"))


def _encode_cidr(iface: IPInterface) -> dict[str, str]:
    return tagged("@cidr", f"{iface.ip}/{iface.network.prefixlen}")


def cidr(text: str) -> dict[str, str]:
    return _encode_cidr(parse_cidr(text))


def is_cidr(text: str) -> bool:
    try:
        parse_cidr(text)
    except CelFunctionError:
        return False
    return True


def contains_ip(c: Any, other: Any) -> bool:
    addr = parse_ip(other) if isinstance(other, str) else _ip(other)
    return addr in _cidr(c).network


def contains_cidr(c: Any, other: Any) -> bool:
    inner = parse_cidr(other) if isinstance(other, str) else _cidr(other)
    outer = _cidr(c).network
    return inner.version == outer.version and inner.network.subnet_of(outer)  # type: ignore[arg-type]


def to_string(v: Any) -> str:
    if isinstance(v, dict) and "@ip" in v:
        return str(v["@ip"])
    return untag("@cidr", v, "IP or CIDR")


OVERLOADS = [
    Overload("url", "string_to_url", ("string",), "map", url),
    Overload("isURL", "is_url_string", ("string",), "bool", is_url),
    Overload("getScheme", "url_get_scheme", ("map",), "string", get_scheme, member=True),
    Overload("getHost", "url_get_host", ("map",), "string", get_host, member=True),
    Overload("getHostname", "url_get_hostname", ("map",), "string", get_hostname, member=True),
    Overload("getPort", "url_get_port", ("map",), "string", get_port, member=True),
    Overload(
        "getEscapedPath", "url_get_escaped_path", ("map",), "string", get_escaped_path,
        member=True,
    ),
    Overload("getQuery", "url_get_query", ("map",), "map", get_query, member=True),
    Overload("ip", "string_to_ip", ("string",), "map", ip),
    Overload("isIP", "is_ip", ("string",), "bool", is_ip),
    Overload("ip.isCanonical", "ip_is_canonical", ("string",), "bool", is_canonical),
    Overload("family", "ip_family", ("map",), "int", family, member=True),
    Overload(
        "isUnspecified", "ip_is_unspecified", ("map",), "bool",
        lambda v: _ip(v).is_unspecified, member=True,
    ),
    Overload(
        "isLoopback", "ip_is_loopback", ("map",), "bool", lambda v: _ip(v).is_loopback,
        member=True,
    ),
    Overload(
        "isLinkLocalMulticast", "ip_is_link_local_multicast", ("map",), "bool",
        is_link_local_multicast, member=True,
    ),
    Overload(
        "isLinkLocalUnicast", "ip_is_link_local_unicast", ("map",), "bool",
        lambda v: _ip(v).is_link_local, member=True,
    ),
    Overload(
        "isGlobalUnicast", "ip_is_global_unicast", ("map",), "bool", is_global_unicast,
        member=True,
    ),
    Overload("cidr", "string_to_cidr", ("string",), "map", cidr),
    Overload("isCIDR", "is_cidr", ("string",), "bool", is_cidr),
    Overload("containsIP", "cidr_contains_ip_ip", ("map", "map"), "bool", contains_ip, member=True),
    Overload(
        "containsIP", "cidr_contains_ip_string", ("map", "string"), "bool", contains_ip,
        member=True,
    ),
    Overload(
        "containsCIDR", "cidr_contains_cidr", ("map", "map"), "bool", contains_cidr, member=True
    ),
    Overload(
        "containsCIDR", "cidr_contains_cidr_string", ("map", "string"), "bool", contains_cidr,
        member=True,
    ),
    Overload(
        "ip", "cidr_ip", ("map",), "map",
        lambda c: tagged("@ip", str(_cidr(c).ip)), member=True,
    ),
    Overload(
        "masked", "cidr_masked", ("map",), "map",
        lambda c: _encode_cidr(ipaddress.ip_interface(str(_cidr(c).network))), member=True,
    ),
    Overload(
        "prefixLength", "cidr_prefix_length", ("map",), "int",
        lambda c: _cidr(c).network.prefixlen, member=True,
    ),
    Overload("string", "ip_or_cidr_to_string", ("map",), "string", to_string),
]
