"""CustomResourceDefinition for Guardrail, generated from the msgspec types.

The schema is derived, not hand-written, so the CRD can never drift from what the
engine accepts: msgspec's JSON Schema is inlined and trimmed to a Kubernetes
structural schema (no $ref, no anyOf-null, no `additionalProperties: false`).
"""

from __future__ import annotations

from typing import Any

import msgspec

from quarterdeck.api.policy import GROUP, KIND, VERSION, GuardrailSpec


def _structural(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_structural(n, defs) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _structural(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
    if "anyOf" in node:
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        if len(options) == 1:
            return _structural(options[0], defs)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("title", "$defs") or (key == "default" and value is None):
            continue
        if key == "additionalProperties" and value is False:
            continue
        if key == "required" and not value:
            continue
        out[key] = _structural(value, defs)
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    return out


def spec_schema() -> dict[str, Any]:
    """OpenAPI v3 schema of `Guardrail.spec`."""
    raw = msgspec.json.schema(GuardrailSpec)
    schema: dict[str, Any] = _structural(raw, raw.get("$defs", {}))
    return schema


def guardrail_crd() -> dict[str, Any]:
    """The Guardrail CRD manifest (cluster-scoped, group policy.quarterdeck.dev)."""
    plural = KIND.lower() + "s"
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Cluster",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": plural,
                "singular": KIND.lower(),
                "shortNames": ["gr"],
                "categories": ["quarterdeck"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec_schema(),
                            },
                        }
                    },
                    "additionalPrinterColumns": [
                        {
                            "name": "Actions",
                            "type": "string",
                            "jsonPath": ".spec.validationActions",
                        },
                        {
                            "name": "Failure",
                            "type": "string",
                            "jsonPath": ".spec.failurePolicy",
                        },
                    ],
                }
            ],
        },
    }
