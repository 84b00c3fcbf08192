"""The one YAML loader of quarterdeck: Kubernetes' scalar rules, bounded, exact errors.

Every YAML text the project reads (manifests, kustomizations, our own CRs, CLI
input) goes through here, so a value means the same thing in ``qd render``, in
the operator and on the cluster after ``kubectl apply``.

API::

    load_all(text, origin, limits=LIMITS) -> list[Document]   # .data, .line
    load(text, origin, limits=LIMITS) -> Any                  # exactly one document (or None)
    read_all(path, origin=None, limits=LIMITS) -> list[Document]
    dump(data) / dump_all(docs) -> str                        # quotes what load would not
                                                              # read back as a string
    YAMLError(ValueError)  # str(): "origin:line:column: reason" (origin as given)

Why not ``yaml.safe_load``: PyYAML resolves scalars by YAML 1.1 as PyYAML reads
it, which is not what Kubernetes does. ``kubectl`` converts YAML to JSON with
sigs.k8s.io/yaml (a fork of go-yaml v2), so here, as there: timestamps stay the
exact strings written (``2001-12-14t21:59:43.10-05:00``), ``yes``/``no``/``on``/
``off``/``y``/``n`` are booleans, ``0777`` and ``0o777`` are octal, ``1_000`` is
1000, ``1e3`` is a float, integers beyond uint64 become floats, non-string keys
become strings, ``<<`` merges mappings (over the keys before it, as go-yaml v2
does), a repeated key takes its last value, ``.inf``/``.nan`` values are refused.

Bounds, checked while the event stream is read and before anything is built:
nesting depth, the number of nodes copied by aliases (the 544-byte "billion
laughs" bomb stops after ``max_alias_nodes``), text size. Text must be UTF-8
without NUL. libyaml (PyYAML's C parser) does the parsing; this module only
builds plain dicts/lists from its events, iteratively, so depth cannot crash it.
Every value is a fresh object: an alias is a copy, never a shared reference.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

_CParser = getattr(yaml, "cyaml", None) and getattr(yaml.cyaml, "CParser", None)


class YAMLError(ValueError):
    """Text that is not acceptable YAML; ``str()`` is ``origin:line:column: reason``."""

    def __init__(self, origin: str, line: int, column: int, reason: str) -> None:
        where = f"{origin}:{line}:{column}" if line else origin
        super().__init__(f"{where}: {reason}")
        self.origin, self.line, self.column, self.reason = origin, line, column, reason


@dataclass(frozen=True)
class Limits:
    """How much one YAML text may cost; far above any real manifest."""

    max_depth: int = 200
    max_alias_nodes: int = 100_000
    max_bytes: int = 64 << 20


LIMITS = Limits()


@dataclass(frozen=True)
class Document:
    """One document of a stream and the line (1-based) where it starts."""

    data: Any
    line: int


# --- scalars, as go-yaml v2 resolves plain scalars into interface{} ----------------

_SCALARS: dict[str, Any] = {
    **dict.fromkeys(("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE"), True),
    **dict.fromkeys(("on", "On", "ON"), True),
    **dict.fromkeys(("n", "N", "no", "No", "NO", "false", "False", "FALSE"), False),
    **dict.fromkeys(("off", "Off", "OFF"), False),
    **dict.fromkeys(("", "~", "null", "Null", "NULL"), None),
    **dict.fromkeys((".nan", ".NaN", ".NAN"), math.nan),
    **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), math.inf),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), -math.inf),
}
_GO_INT = re.compile(r"[-+]?(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)")
_YAML_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_INT64 = (-(1 << 63), (1 << 63) - 1)
_UINT64_MAX = (1 << 64) - 1
_MERGE = "<<"
_STR = "tag:yaml.org,2002:str"


def _go_int(text: str) -> int | None:
    """Go's strconv.ParseInt(text, 0, 64), then ParseUint: the value or None."""
    if not _GO_INT.fullmatch(text):
        return None
    negative = text[0] == "-"
    digits = text.lstrip("+-")
    prefix = digits[:2].lower()
    if prefix in ("0x", "0o", "0b"):
        value = int(digits[2:], {"0x": 16, "0o": 8, "0b": 2}[prefix])
    elif len(digits) > 1 and digits[0] == "0":
        value = int(digits[1:], 8)
    else:
        value = int(digits)
    if negative:
        value = -value
    if _INT64[0] <= value <= _INT64[1] or (not negative and value <= _UINT64_MAX):
        return value
    return None


def _go_float(text: str) -> float | None:
    """Go's strconv.ParseFloat for YAML's float syntax; None when out of range."""
    if not _YAML_FLOAT.fullmatch(text):
        return None
    value = float(text)
    return None if math.isinf(value) else value


def resolve_plain(text: str) -> Any:
    """The value of an untagged plain scalar, as Kubernetes (go-yaml v2) reads it.

    A timestamp is no exception: it cannot be a number, so it stays the string written.
    """
    if text in _SCALARS:
        return _SCALARS[text]
    first = text[0]
    if first == ".":
        value = _go_float(text)
        return text if value is None else value
    if first in "+-0123456789":
        plain = text.replace("_", "")
        as_int = _go_int(plain)
        if as_int is not None:
            return as_int
        value = _go_float(plain)
        if value is not None:
            return value
    return text


_TAG_TYPES = {"int": "int", "float": "float", "bool": "bool", "null": "null"}


def _type_name(value: Any) -> str:
    """The YAML core tag name of a resolved scalar."""
    if value is None:
        return "null"
    return {bool: "bool", int: "int", float: "float"}.get(type(value), "str")


def _tagged(tag: str, text: str, where: tuple[int, int], origin: str) -> Any:
    """A scalar with an explicit tag; unknown (local) tags leave the text as it is."""
    if tag in ("!", _STR) or not tag.startswith("tag:yaml.org,2002:"):
        return text
    name = tag.rpartition(":")[2]
    if name == "binary":
        try:
            return base64.b64decode("".join(text.split()), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise YAMLError(origin, *where, "!!binary value is not base64 of UTF-8 text") from None
    value = resolve_plain(text)
    if name not in _TAG_TYPES:
        return text if name == "timestamp" else value
    if _TAG_TYPES[name] == _type_name(value) or (name == "float" and _type_name(value) == "int"):
        return float(value) if name == "float" else value
    raise YAMLError(origin, *where, f"cannot decode {text!r} as !!{name}")


def _key(value: Any, where: tuple[int, int], origin: str) -> str:
    """A mapping key as sigs.k8s.io/yaml turns it into a JSON object key."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        return _go_float32(value)
    raise YAMLError(origin, *where, f"a mapping key must be a string or number, not {_kind(value)}")


def _go_float32(value: float) -> str:
    """Go's strconv.FormatFloat(value, 'g', -1, 32), which sigs.k8s.io/yaml uses for keys."""
    import numpy  # only for float keys, which real manifests never have

    mantissa, _, exp_text = numpy.format_float_scientific(
        numpy.float32(value), unique=True, trim="-"
    ).partition("e")
    exp = int(exp_text)
    digits = mantissa.lstrip("-").replace(".", "")
    sign = "-" if mantissa.startswith("-") else ""
    if exp < -4 or exp >= 6:
        tail = f".{digits[1:]}" if len(digits) > 1 else ""
        return f"{sign}{digits[0]}{tail}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    return sign + numpy.format_float_positional(numpy.float32(abs(value)), unique=True, trim="-")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "a mapping"
    return "a sequence" if isinstance(value, list) else type(value).__name__


# --- building values from libyaml's events -----------------------------------------

_NOT_JSON = "infinity and NaN have no JSON form (the API server cannot take them)"
_NO_KEY = object()  # a mapping frame waiting for its next key
_MERGE_KEY = object()  # a plain ``<<``: a merge where it is a key, the string elsewhere


class _Frame:
    """A mapping or sequence being built, with what the bounds need to know."""

    __slots__ = (
        "anchor",
        "height",
        "is_map",
        "key",
        "key_mark",
        "mark",
        "merges",
        "nodes",
        "value",
    )

    def __init__(self, is_map: bool, anchor: str | None, mark: Any) -> None:
        self.is_map = is_map
        self.mark = mark
        self.anchor = anchor
        self.value: Any = {} if is_map else []
        self.key: Any = _NO_KEY
        self.key_mark: Any = None
        self.nodes = 1
        self.height = 1


def _copy(value: Any) -> Any:
    """A fresh copy of a built value (an alias must not share objects with its anchor)."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _where(mark: Any) -> tuple[int, int]:
    return (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)


def _merge(frame: _Frame, value: Any, origin: str) -> None:
    """A ``<<`` key, as go-yaml v2 merges: at its place, over the keys before it; of a
    list of mappings, the first one wins."""
    sources = value if isinstance(value, list) else [value]
    for source in reversed(sources):
        if not isinstance(source, dict):
            raise YAMLError(origin, *_where(frame.key_mark), "a merge key (<<) takes mappings")
        frame.value.update(source)


def _build(parser: Any, origin: str, limits: Limits) -> list[Document]:
    """Documents from libyaml's events; one tight loop, since it runs for every manifest."""
    stack: list[_Frame] = []
    anchors: dict[str, tuple[Any, int, int]] = {}  # value, nodes, height
    docs: list[Document] = []
    copied = 0
    doc_line = 0
    max_depth = deep = limits.max_depth
    scalar_event, alias_event = yaml.ScalarEvent, yaml.AliasEvent
    starts = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
    ends = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
    while True:
        ev = parser.get_event()
        kind = type(ev)
        nodes = height = 1
        if kind is scalar_event:
            implicit = ev.implicit  # (plain and untagged, quoted and untagged)
            if implicit[0]:
                value = _MERGE_KEY if ev.value == _MERGE else resolve_plain(ev.value)
                if type(value) is float and not math.isfinite(value) and stack:
                    raise YAMLError(origin, *_where(ev.start_mark), _NOT_JSON)
            elif implicit[1] or ev.tag is None or ev.tag == "!":
                value = ev.value
            else:
                value = _tagged(ev.tag, ev.value, _where(ev.start_mark), origin)
            anchor = ev.anchor
        elif kind in starts:
            if len(stack) >= max_depth:
                raise YAMLError(origin, *_where(ev.start_mark), f"nesting is deeper than {deep}")
            if stack and stack[-1].is_map and stack[-1].key is _NO_KEY:
                raise YAMLError(origin, *_where(ev.start_mark), "a mapping key must be a scalar")
            stack.append(_Frame(kind is yaml.MappingStartEvent, ev.anchor, ev.start_mark))
            continue
        elif kind in ends:
            frame = stack.pop()
            value, nodes, height, anchor = frame.value, frame.nodes, frame.height, frame.anchor
        elif kind is alias_event:
            found = anchors.get(ev.anchor)
            if found is None:
                raise YAMLError(origin, *_where(ev.start_mark), f"alias *{ev.anchor} has no anchor")
            value, nodes, height = found
            copied += nodes
            if copied > limits.max_alias_nodes:
                raise YAMLError(
                    origin,
                    *_where(ev.start_mark),
                    f"aliases expand to more than {limits.max_alias_nodes} nodes (an alias bomb?)",
                )
            if len(stack) + height > max_depth:
                raise YAMLError(origin, *_where(ev.start_mark), f"nesting is deeper than {deep}")
            value, anchor = _copy(value), None
        elif kind is yaml.DocumentStartEvent:
            doc_line = ev.start_mark.line + 1 if ev.start_mark is not None else 0
            anchors.clear()
            continue
        elif ev is None or kind is yaml.StreamEndEvent:
            return docs
        else:
            continue
        if anchor is not None:
            anchors[anchor] = (value, nodes, height)
        if value is _MERGE_KEY and not (stack and stack[-1].is_map and stack[-1].key is _NO_KEY):
            value = _MERGE
        if not stack:
            if value is not None:
                mark = frame.mark if kind in ends else ev.start_mark
                docs.append(Document(value, mark.line + 1 if mark is not None else doc_line))
            continue
        top = stack[-1]
        top.nodes += nodes
        if height >= top.height:
            top.height = height + 1
        if not top.is_map:
            top.value.append(value)
        elif top.key is _NO_KEY:
            top.key, top.key_mark = value, ev.start_mark
        else:
            key, top.key = top.key, _NO_KEY
            if key is _MERGE_KEY:
                _merge(top, value, origin)
                continue
            if type(key) is not str:
                key = _key(key, _where(top.key_mark), origin)
            top.value[key] = value  # a repeated key: the last one wins, as with kubectl


def _check_text(text: str, origin: str) -> None:
    nul = text.find("\0")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        raise YAMLError(origin, line, nul - (text.rfind("\n", 0, nul) + 1) + 1, "NUL character")


def decode(data: bytes, origin: str) -> str:
    """UTF-8 text (a BOM is dropped); YAMLError naming the first bad byte otherwise."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        column = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        raise YAMLError(origin, line, column, "not UTF-8 text") from None


def load_all(text: str | bytes, origin: str, limits: Limits = LIMITS) -> list[Document]:
    """Every non-empty document of a YAML stream."""
    if len(text) > limits.max_bytes:
        raise YAMLError(origin, 0, 0, f"text is over the limit of {limits.max_bytes} bytes")
    if isinstance(text, bytes):
        text = decode(text, origin)
    _check_text(text, origin)
    parser = _CParser(text) if _CParser is not None else yaml.SafeLoader(text)
    try:
        return _build(parser, origin, limits)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        problem = str(err.problem or err.context)
        if "maximum nesting depth" in problem:  # libyaml's own bound, met while scanning ahead
            raise YAMLError(
                origin, *_where(mark), f"nesting is deeper than {limits.max_depth}"
            ) from None
        raise YAMLError(origin, *_where(mark), f"invalid YAML: {problem}") from None
    except yaml.YAMLError as err:
        raise YAMLError(origin, 0, 0, f"invalid YAML: {str(err).splitlines()[0]}") from None
    finally:
        dispose = getattr(parser, "dispose", None)
        if dispose is not None:
            dispose()


def load(text: str | bytes, origin: str, limits: Limits = LIMITS) -> Any:
    """The single document of ``text`` (None when empty); more than one is an error."""
    docs = load_all(text, origin, limits)
    if len(docs) > 1:
        raise YAMLError(origin, docs[1].line, 1, "expected one YAML document, found several")
    return docs[0].data if docs else None


def read_bytes(path: Path, origin: str, max_bytes: int) -> bytes:
    """A file's bytes, refused (without reading it all) when over ``max_bytes``."""
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as err:
        raise YAMLError(origin, 0, 0, f"cannot read: {err.strerror or err}") from None
    if len(data) > max_bytes:
        raise YAMLError(origin, 0, 0, f"file is over the limit of {max_bytes} bytes")
    return data


def read_all(path: Path, origin: str | None = None, limits: Limits = LIMITS) -> list[Document]:
    """Every document of a YAML file; ``origin`` (default: the path as given) in errors."""
    where = str(path) if origin is None else origin
    return load_all(read_bytes(path, where, limits.max_bytes), where, limits)


# --- writing YAML that this loader reads back unchanged ----------------------------


class _Dumper(yaml.SafeDumper):
    """SafeDumper that quotes every string ``resolve_plain`` would not read as a string."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode and implicit[0]:
            if value == _MERGE:
                return "tag:yaml.org,2002:merge"
            return f"tag:yaml.org,2002:{_type_name(resolve_plain(value))}"
        return super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]


_BREAKS = ("\x85", "\u2028", "\u2029")


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    """Strings with YAML 1.1's extra line breaks are double-quoted, where they are escaped."""
    style = '"' if any(b in value for b in _BREAKS) else None
    return dumper.represent_scalar(_STR, value, style=style)


_Dumper.add_representer(str, _represent_str)


def dump(data: Any) -> str:
    """One YAML document, keys in insertion order."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True)


def dump_all(docs: Iterable[Any]) -> str:
    """A multi-document YAML stream."""
    return yaml.dump_all(list(docs), Dumper=_Dumper, sort_keys=False, allow_unicode=True)
