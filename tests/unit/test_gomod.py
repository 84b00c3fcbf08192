"""Wrapper go.mod generation for building Kubernetes from the module proxy."""

from __future__ import annotations

import pytest

from quarterdeck.devcluster.build import executable_name
from quarterdeck.devcluster.gomod import (
    GoModError,
    kubernetes_wrapper,
    single_module_wrapper,
    staging_version,
)

UPSTREAM = """\
module k8s.io/kubernetes

go 1.26.0

godebug default=go1.26

require (
\tgithub.com/foo/bar v1.2.3
\tk8s.io/api v0.0.0
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/streaming => ./staging/src/k8s.io/streaming
\tgithub.com/other/thing => github.com/fork/thing v1.0.0
)
"""


def test_every_staging_module_is_replaced_by_its_published_twin() -> None:
    text = kubernetes_wrapper(UPSTREAM, "v1.36.3")
    assert "\tk8s.io/api => k8s.io/api v0.36.3" in text
    assert "\tk8s.io/streaming => k8s.io/streaming v0.36.3" in text
    assert "github.com/fork/thing" not in text  # only ./staging replaces are rewritten
    assert "require k8s.io/kubernetes v1.36.3" in text


def test_go_and_godebug_lines_follow_the_release() -> None:
    text = kubernetes_wrapper(UPSTREAM, "v1.36.3")
    assert "\ngo 1.26.0\n" in text
    assert "\ngodebug default=go1.26\n" in text


def test_upstream_without_replace_block_is_an_error() -> None:
    with pytest.raises(GoModError, match="no replace"):
        kubernetes_wrapper("module k8s.io/kubernetes\n\ngo 1.26.0\n", "v1.36.3")


@pytest.mark.parametrize("bad", ["1.36.3", "v2.0.0", "v1.36"])
def test_staging_version_needs_a_release(bad: str) -> None:
    with pytest.raises(GoModError):
        staging_version(bad)


def test_single_module_wrapper() -> None:
    text = single_module_wrapper("etcd", "go.etcd.io/etcd/server/v3", "v3.6.16", (1, 26))
    assert text.splitlines()[0] == "module quarterdeck.dev/devcluster/etcd"
    assert "require go.etcd.io/etcd/server/v3 v3.6.16" in text


def test_executable_names_skip_major_version_suffixes() -> None:
    assert executable_name("go.etcd.io/etcd/server/v3") == "server"
    assert executable_name("k8s.io/kubernetes/cmd/kube-apiserver") == "kube-apiserver"
