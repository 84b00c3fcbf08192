"""Choosing a commit from a repository's refs: branch, tag or a semver range over tags.

Pure: the git shell lists the refs (name -> commit SHA, annotated tags peeled) and
this module decides. A commit ref is checked by the shell, which alone can ask git
whether an object exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import semantic_version

DEFAULT_BRANCHES = ("main", "master")


class RefError(ValueError):
    """The ref asked for does not exist or is not well formed."""


@dataclass(frozen=True)
class Resolved:
    """A commit and the ref that named it, e.g. ``refs/tags/v1.2.0``."""

    sha: str
    ref: str


def parse_range(text: str) -> semantic_version.NpmSpec:
    """A semver range; commas (Masterminds/Flux style) mean 'and' like spaces do."""
    try:
        return semantic_version.NpmSpec(" ".join(text.replace(",", " ").split()))
    except ValueError as err:
        raise RefError(f"semver range {text!r} is not valid: {err}") from None


def tag_version(tag: str) -> semantic_version.Version | None:
    """The semantic version a tag names (``v1.2.3`` or ``1.2.3``), or None."""
    try:
        return semantic_version.Version(tag.removeprefix("v"))
    except ValueError:
        return None


def select_semver(spec_text: str, tags: Mapping[str, str]) -> Resolved:
    """The highest tag inside the range; tags that are not versions are ignored."""
    spec = parse_range(spec_text)
    candidates = [(v, name) for name in tags if (v := tag_version(name)) is not None]
    matching = [(v, name) for v, name in candidates if v in spec]
    if not matching:
        raise RefError(f"no tag matches semver range {spec_text!r} ({len(candidates)} versions)")
    _, best = max(matching)
    return Resolved(sha=tags[best], ref=f"refs/tags/{best}")


def resolve(
    refs: Mapping[str, str], *, branch: str = "", tag: str = "", semver: str = ""
) -> Resolved:
    """The commit a branch, tag or semver range names in ``refs`` (full ref names).

    Precedence follows Flux: semver over tag over branch; with none given the
    default branch is ``main``, then ``master``.
    """
    tags = {n.removeprefix("refs/tags/"): s for n, s in refs.items() if n.startswith("refs/tags/")}
    if semver:
        return select_semver(semver, tags)
    if tag:
        if tag not in tags:
            raise RefError(f"tag {tag!r} does not exist")
        return Resolved(sha=tags[tag], ref=f"refs/tags/{tag}")
    names = (branch,) if branch else DEFAULT_BRANCHES
    for name in names:
        full = f"refs/heads/{name}"
        if full in refs:
            return Resolved(sha=refs[full], ref=full)
    raise RefError(f"branch {' or '.join(repr(n) for n in names)} does not exist")
