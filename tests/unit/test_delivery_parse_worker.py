"""Manifests parsed in worker processes: a hostile text costs its worker, not us."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from quarterdeck.delivery import manifests
from quarterdeck.delivery.manifests import ManifestError, parse_documents
from quarterdeck.delivery.parse_worker import ParsePool

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  big: {n}\n"


@pytest.fixture(scope="module")
def pool() -> Iterator[ParsePool]:
    # a worker needs about 21 MiB of address space idle; 32 MiB leaves room for real
    # manifests but not for the hostile one below
    pool = ParsePool(size=1, max_memory=32 << 20, timeout=120.0)
    manifests.isolate(pool)
    yield pool
    manifests.isolate(None)
    pool.close()


def test_objects_and_errors_are_the_same_as_in_process(pool: ParsePool) -> None:
    text = CM.format(n=123456789012) + "---\napiVersion: v1\nkind: List\nitems: []\n"
    isolated = parse_documents(text, "app/cm.yaml")
    assert [(m.obj, m.origin) for m in isolated] == [
        (m.obj, m.origin) for m in manifests.parse_here(text, "app/cm.yaml")
    ]
    with pytest.raises(ManifestError, match=r"^bad/x.yaml:1: object has no apiVersion"):
        parse_documents("a: b\n", "bad/x.yaml")


def test_a_text_needing_more_memory_than_the_limit_fails_alone(pool: ParsePool) -> None:
    # 1.8 MB of YAML, within every kyaml bound, that builds about 25 MiB of objects
    hostile = "items: [" + ",".join(["{a: [1, 2, 3, 4, 5, 6, 7, 8]}"] * 60_000) + "]\n"
    with pytest.raises(ManifestError, match=r"^bad/huge.yaml: parsing stopped: it needs more"):
        parse_documents(hostile, "bad/huge.yaml")
    # the worker was started again: the next text parses as usual
    assert parse_documents(CM.format(n=1), "ok.yaml")[0].obj["data"] == {"big": 1}


def test_a_text_that_exhausted_a_worker_is_refused_again_without_one(pool: ParsePool) -> None:
    hostile = "items: [" + ",".join(["{b: [1, 2, 3, 4, 5, 6, 7, 8]}"] * 60_000) + "]\n"
    with pytest.raises(ManifestError, match=r"^bad/a.yaml: parsing stopped: it needs more"):
        parse_documents(hostile, "bad/a.yaml")
    (worker,) = pool._all
    assert worker.proc is None  # the worker that ran out was stopped
    # the same text again (an Application retrying its commit): refused from memory,
    # naming the new origin, and no worker is started for it
    with pytest.raises(ManifestError, match=r"^bad/b.yaml: parsing stopped: it needs more"):
        parse_documents(hostile, "bad/b.yaml")
    assert worker.proc is None
    assert parse_documents(CM.format(n=2), "ok.yaml")[0].obj["data"] == {"big": 2}


def test_a_parse_over_the_time_limit_fails_alone() -> None:
    slow = ParsePool(size=1, timeout=0.0)
    try:
        with pytest.raises(ManifestError, match="took longer than the time limit"):
            slow.parse(CM.format(n=1), "slow.yaml")
    finally:
        slow.close()
