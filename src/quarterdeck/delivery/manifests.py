"""Kubernetes manifests as plain data: parsing YAML text, identity, validation.

Pure: text in, objects out. Every error names the file and line so a bad commit
can be fixed from the message alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from quarterdeck import kyaml
from quarterdeck.kyaml import LIMITS, Limits

Obj = dict[str, Any]


class ManifestError(ValueError):
    """A manifest that cannot be applied; ``str()`` says where and why."""


@dataclass(frozen=True, order=True)
class Key:
    """The identity of an object: group, kind, namespace, name (version does not count)."""

    group: str
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        gk = f"{self.kind}.{self.group}" if self.group else self.kind
        return f"{gk} {self.namespace}/{self.name}" if self.namespace else f"{gk} {self.name}"


@dataclass(frozen=True)
class Manifest:
    """An object and where it came from (``file:line``) for error messages."""

    obj: Obj
    origin: str

    @property
    def key(self) -> Key:
        return key_of(self.obj)


def group_of(api_version: str) -> str:
    """The API group of an apiVersion: ``apps/v1`` -> ``apps``, ``v1`` -> ``""``."""
    return api_version.rpartition("/")[0]


def key_of(obj: Obj) -> Key:
    """The identity of a (validated) object."""
    meta = obj.get("metadata") or {}
    return Key(
        group_of(str(obj.get("apiVersion", ""))),
        str(obj.get("kind", "")),
        str(meta.get("namespace") or ""),
        str(meta.get("name") or meta.get("generateName") or ""),  # generateName: hooks only
    )


class Parser(Protocol):
    """Where parsing happens when not in this process (``parse_worker.ParsePool``)."""

    def parse(self, text: str | bytes, origin: str, limits: Limits) -> list[tuple[Any, str]]: ...


#: Set by the operator (``isolate``): manifests are then parsed in worker processes
#: under memory and time limits; None parses here (the CLI, tests).
ISOLATION: Parser | None = None


def isolate(parser: Parser | None) -> None:
    """Parse every manifest through ``parser`` from now on (None: in this process)."""
    global ISOLATION
    ISOLATION = parser


def parse_documents(text: str | bytes, origin: str, limits: Limits = LIMITS) -> list[Manifest]:
    """All objects in a multi-document YAML text; ``v1 List`` objects are expanded.

    Empty documents are skipped. ``origin`` is the file name used in messages. With
    ``isolate`` in force the text is parsed in a worker process; the checks on the
    objects are made here either way.
    """
    if ISOLATION is None:
        return parse_here(text, origin, limits)
    out = [Manifest(obj, where) for obj, where in ISOLATION.parse(text, origin, limits)]
    for manifest in out:
        validate(manifest)
    return out


def parse_here(text: str | bytes, origin: str, limits: Limits = LIMITS) -> list[Manifest]:
    """``parse_documents`` in this process (what a worker runs)."""
    out: list[Manifest] = []
    try:
        docs = kyaml.load_all(text, origin, limits)
    except kyaml.YAMLError as err:
        raise ManifestError(str(err)) from None
    for doc in docs:
        where, data = f"{origin}:{doc.line}", doc.data
        if not isinstance(data, dict):
            raise ManifestError(f"{where}: a document must be a mapping, not {_kind(data)}")
        items = data.get("items")
        if str(data.get("kind", "")).endswith("List") and isinstance(items, list):
            out += [Manifest(item, where) for item in items]
        else:
            out.append(Manifest(data, where))
    for manifest in out:
        validate(manifest)
    return out


def _kind(data: object) -> str:
    if data is None:
        return "null"
    names = {list: "a list", dict: "a mapping", str: "a string", int: "a number", bool: "a boolean"}
    return names.get(type(data), "a number" if isinstance(data, float) else type(data).__name__)


def validate(manifest: Manifest) -> None:
    """Refuse objects the API server would reject for lack of identity."""
    obj, where = manifest.obj, manifest.origin
    if not isinstance(obj, dict):
        raise ManifestError(f"{where}: list item is {_kind(obj)}, not an object")
    for field in ("apiVersion", "kind"):
        if not isinstance(obj.get(field), str) or not obj[field]:
            raise ManifestError(f"{where}: object has no {field}")
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        raise ManifestError(f"{where}: {obj['kind']} has no metadata.name")
    if not isinstance(meta.get("name"), str) or not meta["name"]:
        from quarterdeck.delivery.hooks import is_hook  # hooks may use generateName instead

        prefix = meta.get("generateName")
        if not (isinstance(prefix, str) and prefix and is_hook(obj)):
            raise ManifestError(f"{where}: {obj['kind']} has no metadata.name")
    problem = metadata_problem(meta)
    if problem:
        name = meta.get("name") or meta.get("generateName")
        raise ManifestError(f"{where}: {obj['kind']} {name}: {problem}")


_META_STRINGS = ("name", "namespace", "generateName", "uid", "resourceVersion")
_META_LISTS = {"finalizers": str, "ownerReferences": dict, "managedFields": dict}


def metadata_problem(meta: dict[str, Any]) -> str:
    """What is wrongly typed in ``metadata`` (the API server would refuse it), or ""."""
    for field in _META_STRINGS:
        if meta.get(field) is not None and not isinstance(meta[field], str):
            return f"metadata.{field} must be a string, not {_kind(meta[field])}"
    for field in ("labels", "annotations"):
        value = meta.get(field)
        if value is None:
            continue
        if not isinstance(value, dict):
            return f"metadata.{field} must be a mapping of strings, not {_kind(value)}"
        for key, item in value.items():
            if not isinstance(item, str):
                return f"metadata.{field}.{key} must be a string, not {_kind(item)}"
    for field, item_type in _META_LISTS.items():
        value = meta.get(field)
        if value is None:
            continue
        if not isinstance(value, list) or not all(isinstance(v, item_type) for v in value):
            items = "strings" if item_type is str else "mappings"
            return f"metadata.{field} must be a list of {items}"
    generation = meta.get("generation")
    if generation is not None and (not isinstance(generation, int) or isinstance(generation, bool)):
        return "metadata.generation must be an integer"
    return ""


def check_unique(manifests: Iterable[Manifest]) -> None:
    """Refuse the same object defined twice (it would be applied twice, last one winning)."""
    seen: dict[Key, str] = {}
    for manifest in manifests:
        key = manifest.key
        if key in seen:
            raise ManifestError(f"{manifest.origin}: duplicate {key}, first defined at {seen[key]}")
        seen[key] = manifest.origin
