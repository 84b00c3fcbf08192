"""The readiness reading of CRD status that `install_crds` waits on."""

from __future__ import annotations

from quarterdeck.kube.crds import crd_names, is_established, list_path, refusal


def _crd(*conditions: tuple[str, str, str]) -> dict[str, object]:
    return {
        "metadata": {"name": "widgets.example.test"},
        "status": {
            "conditions": [{"type": t, "status": s, "message": m} for t, s, m in conditions]
        },
    }


def test_a_crd_without_status_is_neither_established_nor_refused() -> None:
    crd = {"metadata": {"name": "widgets.example.test"}}
    assert not is_established(crd)
    assert refusal(crd) == ""
    assert crd_names([crd]) == ["widgets.example.test"]


def test_established_true_serves() -> None:
    crd = _crd(("NamesAccepted", "True", ""), ("Established", "True", ""))
    assert is_established(crd)
    assert refusal(crd) == ""


def test_names_refused_say_why() -> None:
    crd = _crd(
        ("NamesAccepted", "False", '"Widget" is already in use'), ("Established", "False", "")
    )
    assert not is_established(crd)
    assert refusal(crd) == '"Widget" is already in use'


def test_a_kind_is_listed_at_its_storage_version_across_namespaces() -> None:
    crd = {
        "spec": {
            "group": "delivery.quarterdeck.dev",
            "names": {"plural": "applications"},
            "versions": [{"name": "v1alpha1", "storage": False}, {"name": "v1", "storage": True}],
        }
    }
    assert list_path(crd) == "/apis/delivery.quarterdeck.dev/v1/applications"
