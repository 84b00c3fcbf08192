"""Wrapper modules and cache paths for commands built from a pinned Go module."""

from __future__ import annotations

from pathlib import Path

import pytest

from quarterdeck.devcluster import cache
from quarterdeck.devcluster.gocommand import GoCommand, cached_command
from quarterdeck.devcluster.gomod import GoModError, command_wrapper, module_replaces

FLUX_LIKE = """\
module github.com/fluxcd/source-controller

go 1.26.0

godebug default=go1.26

replace github.com/fluxcd/source-controller/api => ./api

// Pin for a security fix.
replace github.com/opencontainers/go-digest => github.com/opencontainers/go-digest v1.0.1-0.2022

require (
\tgithub.com/fluxcd/pkg/artifact v0.18.3
\tgithub.com/fluxcd/source-controller/api v1.9.6
)

replace (
\tsigs.k8s.io/kustomize/api => sigs.k8s.io/kustomize/api v0.21.1
\tgolang.org/x/net v0.1.0 => golang.org/x/net v0.2.0 // a versioned left side
\tk8s.io/local => ../local
)
"""


def test_local_replaces_are_dropped_and_published_ones_kept() -> None:
    assert module_replaces(FLUX_LIKE) == [
        "sigs.k8s.io/kustomize/api => sigs.k8s.io/kustomize/api v0.21.1",
        "golang.org/x/net v0.1.0 => golang.org/x/net v0.2.0",
        "github.com/opencontainers/go-digest => github.com/opencontainers/go-digest v1.0.1-0.2022",
    ]


def test_wrapper_requires_the_module_and_keeps_go_godebug_and_replaces() -> None:
    text = command_wrapper(
        "source-controller", "github.com/fluxcd/source-controller", "v1.9.6", FLUX_LIKE
    )
    assert text.startswith("module quarterdeck.dev/gobuild/source-controller\n\ngo 1.26.0\n")
    assert "\ngodebug default=go1.26\n" in text
    assert "\nrequire github.com/fluxcd/source-controller v1.9.6\n" in text
    assert "\tsigs.k8s.io/kustomize/api => sigs.k8s.io/kustomize/api v0.21.1\n" in text
    assert "./api" not in text and "../local" not in text


def test_a_pin_wins_over_an_upstream_replace_of_the_same_module() -> None:
    pin = "sigs.k8s.io/kustomize/api => sigs.k8s.io/kustomize/api v0.20.0"
    artifact = "github.com/fluxcd/pkg/artifact => github.com/fluxcd/pkg/artifact v0.18.0"
    text = command_wrapper("sc", "example.com/m", "v1.0.0", FLUX_LIKE, (pin, artifact))
    assert f"\t{pin}\n" in text and f"\t{artifact}\n" in text
    assert "kustomize/api v0.21.1" not in text


def test_module_without_replaces_gets_a_plain_require() -> None:
    text = command_wrapper(
        "helm", "helm.sh/helm/v3", "v3.22.0", "module helm.sh/helm/v3\n\ngo 1.26.0\n"
    )
    assert "replace" not in text
    assert text.endswith("require helm.sh/helm/v3 v3.22.0\n")


@pytest.mark.parametrize("bad", ["no arrow here", "example.com/a => ./local"])
def test_a_pin_must_name_a_published_module(bad: str) -> None:
    with pytest.raises(GoModError, match="pin"):
        command_wrapper("x", "example.com/m", "v1.0.0", FLUX_LIKE, (bad,))


def test_cached_command_is_keyed_by_name_and_version_and_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QD_HOME", str(tmp_path))
    helm = GoCommand("helm", "helm.sh/helm/v3", "v3.22.0", "helm.sh/helm/v3/cmd/helm")
    assert helm.path == tmp_path / "bin" / "helm-v3.22.0"
    assert cached_command(helm) is None
    helm.path.parent.mkdir(parents=True)
    helm.path.write_bytes(b"\x7fELF helm")
    helm.path.chmod(0o755)
    cache.record(helm.path)
    assert cached_command(helm) == helm.path
    helm.path.write_bytes(b"\x7fELF")  # truncated after the build recorded it
    with pytest.raises(cache.CorruptBinaryError, match=r"helm v3\.22\.0"):
        cached_command(helm)
