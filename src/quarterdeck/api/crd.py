"""CustomResourceDefinition manifests generated from msgspec types.

The API types are the one definition of each kind; this module turns them into a
structural OpenAPI v3 schema (no $ref, every object typed) as the API server
requires, so the CRDs in deploy/crds never drift from the Python code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import msgspec.inspect as mi

from quarterdeck.api.meta import ObjectMeta

Schema = dict[str, Any]
_QUANTITY_TYPES = {mi.StrType, mi.IntType, mi.FloatType}


@dataclass(frozen=True)
class PrinterColumn:
    """An ``additionalPrinterColumns`` entry, shown by ``kubectl get``."""

    name: str
    json_path: str
    type: str = "string"
    priority: int = 0


@dataclass(frozen=True)
class KindSpec:
    """What a CRD needs beyond the schema of the type."""

    type: type[msgspec.Struct]
    group: str
    version: str
    plural: str
    scope: str = "Namespaced"
    short_names: Sequence[str] = ()
    categories: Sequence[str] = ()
    columns: Sequence[PrinterColumn] = field(default_factory=tuple)


def _number_bounds(t: mi.IntType | mi.FloatType) -> Schema:
    out: Schema = {}
    if t.ge is not None:
        out["minimum"] = t.ge
    if t.gt is not None:
        out["minimum"], out["exclusiveMinimum"] = t.gt, True
    if t.le is not None:
        out["maximum"] = t.le
    if t.lt is not None:
        out["maximum"], out["exclusiveMaximum"] = t.lt, True
    return out


def _schema(t: mi.Type) -> Schema:
    """Structural schema of one msgspec type."""
    if isinstance(t, mi.Metadata):
        out = _schema(t.type)
        extra = t.extra_json_schema or {}
        if "description" in extra:
            out["description"] = extra["description"]
        return out
    if isinstance(t, mi.StrType):
        out = {"type": "string"}
        if t.pattern is not None:
            out["pattern"] = t.pattern
        if t.min_length is not None:
            out["minLength"] = t.min_length
        if t.max_length is not None:
            out["maxLength"] = t.max_length
        return out
    if isinstance(t, mi.BoolType):
        return {"type": "boolean"}
    if isinstance(t, mi.IntType):
        return {"type": "integer", **_number_bounds(t)}
    if isinstance(t, mi.FloatType):
        return {"type": "number", **_number_bounds(t)}
    if isinstance(t, mi.LiteralType):
        kinds = {type(v) for v in t.values}
        typ = "string" if kinds == {str} else "integer"
        return {"type": typ, "enum": list(t.values)}
    if isinstance(t, mi.ListType):
        return {"type": "array", "items": _schema(t.item_type)}
    if isinstance(t, mi.DictType):
        if isinstance(t.value_type, mi.AnyType):
            return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        return {"type": "object", "additionalProperties": _schema(t.value_type)}
    if isinstance(t, mi.UnionType):
        members = [m for m in t.types if not isinstance(m, mi.NoneType)]
        scalars = {type(m) for m in members}
        if mi.StrType in scalars and len(scalars) > 1 and scalars <= _QUANTITY_TYPES:
            return {"x-kubernetes-int-or-string": True}  # quantities: 8, "500m", "32Gi"
        if len(members) != 1:
            raise TypeError(f"CRD schemas cannot express the union {t}")
        return _schema(members[0])
    if isinstance(t, mi.AnyType):
        return {"x-kubernetes-preserve-unknown-fields": True}
    if isinstance(t, mi.StructType):
        return _struct_schema(t)
    raise TypeError(f"no CRD schema for {t}")


def _struct_schema(t: mi.StructType) -> Schema:
    if t.cls is ObjectMeta:
        return {"type": "object"}
    props: Schema = {}
    required: list[str] = []
    for f in t.fields:
        props[f.encode_name] = _schema(f.type)
        if f.required:
            required.append(f.encode_name)
        elif isinstance(f.default, str | int | float | bool) and f.default != "":
            props[f.encode_name]["default"] = f.default
    out: Schema = {"type": "object", "properties": props}
    doc = (t.cls.__doc__ or "").strip().splitlines()
    if doc:
        out["description"] = doc[0]
    if required:
        out["required"] = required
    return out


def schema_of(tp: type[msgspec.Struct]) -> Schema:
    """The openAPIV3Schema of a top-level kind (apiVersion/kind/metadata/spec/status)."""
    info = mi.type_info(tp)
    if not isinstance(info, mi.StructType):
        raise TypeError(f"{tp} is not a msgspec Struct")
    schema = _struct_schema(info)
    props = schema["properties"]
    for key in ("apiVersion", "kind"):
        props[key] = {"type": "string"}
    # Only spec can be required at the top; it is when its type has no default.
    required = schema.pop("required", [])
    schema["required"] = ["spec"] if "spec" in required else []
    return schema


def crd(kind: KindSpec) -> dict[str, Any]:
    """A complete apiextensions.k8s.io/v1 CustomResourceDefinition for ``kind``."""
    name = kind.type.__name__
    version: dict[str, Any] = {
        "name": kind.version,
        "served": True,
        "storage": True,
        "schema": {"openAPIV3Schema": schema_of(kind.type)},
        "subresources": {"status": {}},
    }
    if kind.columns:
        version["additionalPrinterColumns"] = [
            {"name": c.name, "type": c.type, "jsonPath": c.json_path}
            | ({"priority": c.priority} if c.priority else {})
            for c in kind.columns
        ]
    names: dict[str, Any] = {
        "kind": name,
        "listKind": f"{name}List",
        "plural": kind.plural,
        "singular": name.lower(),
    }
    if kind.short_names:
        names["shortNames"] = list(kind.short_names)
    if kind.categories:
        names["categories"] = list(kind.categories)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{kind.plural}.{kind.group}"},
        "spec": {"group": kind.group, "names": names, "scope": kind.scope, "versions": [version]},
    }


def main(argv: Sequence[str]) -> int:
    """``python -m quarterdeck.api.crd MODULE OUTDIR``: write the CRDs of MODULE.KINDS."""
    import importlib
    from pathlib import Path

    import yaml

    module, outdir = argv
    kinds: Sequence[KindSpec] = importlib.import_module(module).KINDS
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    for kind in kinds:
        manifest = crd(kind)
        path = out / f"{manifest['metadata']['name']}.yaml"
        path.write_text(yaml.safe_dump(manifest, sort_keys=False))
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
