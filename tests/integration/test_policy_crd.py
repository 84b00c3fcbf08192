"""The generated Guardrail CRD installs in a real API server and stores every built-in."""

from __future__ import annotations

import pytest
from lightkube import Client, codecs
from lightkube.generic_resource import create_global_resource
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition

from quarterdeck.api.policy import GROUP, VERSION, guardrail_from_dict, to_dict
from quarterdeck.api.policy_crd import guardrail_crd
from quarterdeck.kube.wait import wait_for
from quarterdeck.policy.library import builtins

pytestmark = pytest.mark.integration


def test_crd_accepts_and_round_trips_every_builtin(kube: Client) -> None:
    crd = guardrail_crd()
    kube.apply(codecs.from_dict(crd), force=True)

    def established() -> bool:
        status = kube.get(CustomResourceDefinition, crd["metadata"]["name"]).status
        return status is not None and any(
            c.type == "Established" and c.status == "True" for c in status.conditions or []
        )

    wait_for(established, "the Guardrail CRD to be Established", 30, interval=0.2)
    guardrail_kind = create_global_resource(GROUP, VERSION, "Guardrail", "guardrails")
    try:
        for guardrail in builtins().values():
            stored = kube.apply(guardrail_kind(to_dict(guardrail)), force=True)
            back = guardrail_from_dict(
                {k: v for k, v in stored.to_dict().items() if k in ("apiVersion", "kind", "spec")}
                | {"metadata": {"name": guardrail.name}}
            )
            assert back.spec == guardrail.spec, guardrail.name
    finally:
        for guardrail in builtins().values():
            kube.delete(guardrail_kind, guardrail.name)
