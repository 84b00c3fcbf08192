"""DRA claims counted as quota: what a claim asks for, and what cannot be counted."""

from __future__ import annotations

import pytest

from quarterdeck.queueing.dra import ClaimError, claim_devices, claim_requests


def _request(**exactly: object) -> dict[str, object]:
    return {"devices": {"requests": [{"name": "r", "exactly": exactly}]}}


def test_exact_counts_and_first_choices_are_counted() -> None:
    spec = {
        "devices": {
            "requests": [
                {"name": "a", "exactly": {"deviceClassName": "gpu.nvidia.com", "count": 2}},
                {"name": "b", "firstAvailable": [{"name": "x", "deviceClassName": "fpga.x"}]},
            ]
        }
    }
    assert claim_devices(spec, "ResourceClaim c") == (("gpu.nvidia.com", 2), ("fpga.x", 1))


@pytest.mark.parametrize(
    ("exactly", "field"),
    [
        ({"deviceClassName": "gpu.nvidia.com", "allocationMode": "All"}, "allocationMode"),
        ({"count": 1}, "deviceClassName"),
        ({"deviceClassName": "gpu.nvidia.com", "count": 0}, "count"),
    ],
)
def test_what_cannot_be_counted_is_refused_with_the_field(
    exactly: dict[str, object], field: str
) -> None:
    with pytest.raises(ClaimError, match=rf"requests\[0\]\.{field}"):
        claim_devices(_request(**exactly), "ResourceClaim c")


def test_a_mapped_class_is_charged_as_its_resource_and_a_shared_claim_is_refused() -> None:
    claims = {
        ("ns", "ResourceClaimTemplate", "t"): (("gpu.nvidia.com", 2),),
        ("ns", "ResourceClaim", "c"): (("fpga.x", 1),),
    }
    by_template = {"spec": {"resourceClaims": [{"name": "g", "resourceClaimTemplateName": "t"}]}}
    assert claim_requests(by_template, "ns", claims, "p", count=4) == {"nvidia.com/gpu": 2000}
    by_claim = {"spec": {"resourceClaims": [{"name": "f", "resourceClaimName": "c"}]}}
    assert claim_requests(by_claim, "ns", claims, "p", count=1) == {"fpga.x": 1000}
    with pytest.raises(ClaimError, match="shared by 3 pods"):
        claim_requests(by_claim, "ns", claims, "p", count=3)
    with pytest.raises(ClaimError, match="ResourceClaimTemplate ns/nope not found"):
        missing = {"spec": {"resourceClaims": [{"name": "g", "resourceClaimTemplateName": "nope"}]}}
        claim_requests(missing, "ns", claims, "p", count=1)
