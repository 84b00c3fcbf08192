"""Git sources against real repositories made in tmp_path (no fake git)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitrepo import Repo
from quarterdeck.delivery.refs import RefError, resolve, select_semver
from quarterdeck.delivery.source import Credentials, GitSource, SourceError, redact

sys.path.insert(0, str(Path(__file__).parents[2] / "bench" / "peers"))
from git_http import GitServer  # git over smart HTTP, shared with the Flux bench


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path / "origin")


@pytest.fixture
def source(tmp_path: Path) -> GitSource:
    return GitSource(tmp_path / "cache", timeout=30)


def test_branch_resolves_to_its_tip_with_metadata(repo: Repo, source: GitSource) -> None:
    repo.commit("first", {"app/cm.yaml": "a: 1\n"})
    second = repo.commit("second\n\nbody line", {"app/cm.yaml": "a: 2\n"})
    rev = source.fetch(repo.url, branch="main")
    assert rev.sha == second
    assert rev.ref == "refs/heads/main"
    assert rev.author == "Ada Lovelace <ada@example.com>"
    assert rev.message == "second\n\nbody line"
    assert rev.time[:2] == "20" and "T" in rev.time


def test_default_branch_is_main_and_follows_new_commits(repo: Repo, source: GitSource) -> None:
    repo.commit("one")
    assert source.fetch(repo.url).sha == repo.git("rev-parse", "HEAD")
    newer = repo.commit("two")
    assert source.fetch(repo.url).sha == newer


def test_tags_annotated_and_light_resolve_to_commits(repo: Repo, source: GitSource) -> None:
    first = repo.commit("one")
    repo.git("tag", "-a", "v1.0.0", "-m", "release")
    second = repo.commit("two")
    repo.git("tag", "v1.1.0")
    assert source.fetch(repo.url, tag="v1.0.0").sha == first
    assert source.fetch(repo.url, tag="v1.1.0").sha == second


def test_semver_range_picks_the_highest_matching_tag(repo: Repo, source: GitSource) -> None:
    shas = {}
    for tag in ("v1.0.0", "v1.2.0", "v1.10.1", "v2.0.0", "v1.11.0-rc.1", "nightly"):
        shas[tag] = repo.commit(tag)
        repo.git("tag", tag)
    rev = source.fetch(repo.url, semver=">=1.0.0 <2.0.0")
    assert (rev.sha, rev.ref) == (shas["v1.10.1"], "refs/tags/v1.10.1")
    assert source.fetch(repo.url, semver="^2").sha == shas["v2.0.0"]


def test_commit_ref_works_for_a_commit_off_any_branch_tip(repo: Repo, source: GitSource) -> None:
    first = repo.commit("one")
    repo.commit("two")
    rev = source.fetch(repo.url, commit=first[:10])
    assert rev.sha == first
    assert rev.message == "one"


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ({"branch": "nope"}, "branch 'nope' does not exist"),
        ({"tag": "v9"}, "tag 'v9' does not exist"),
        ({"semver": ">=5.0.0"}, "no tag matches semver range '>=5.0.0'"),
        ({"commit": "deadbeefdeadbeef"}, "commit 'deadbeefdeadbeef' does not exist"),
    ],
)
def test_missing_refs_are_named(
    repo: Repo, source: GitSource, ref: dict[str, str], message: str
) -> None:
    repo.commit("one")
    with pytest.raises(SourceError, match=message):
        source.fetch(repo.url, **ref)


def test_unreachable_repository_is_reported(tmp_path: Path, source: GitSource) -> None:
    with pytest.raises(SourceError, match=r"repository unreachable"):
        source.fetch((tmp_path / "missing").as_uri())


def test_credentials_never_appear_in_errors(tmp_path: Path, source: GitSource) -> None:
    creds = Credentials(token="s3cr3t-token")
    url = f"https://user:s3cr3t-token@127.0.0.1:9/{tmp_path.name}.git"
    with pytest.raises(SourceError) as err:
        source.fetch(url, credentials=creds)
    assert "s3cr3t-token" not in str(err.value)
    assert "***@127.0.0.1" in str(err.value)


def test_redact_hides_userinfo_and_secrets() -> None:
    assert redact("https://a:b@h/x token=zz", ["zz"]) == "https://***@h/x token=***"


def test_checkout_exports_the_tree_without_ignored_files(repo: Repo, source: GitSource) -> None:
    sha = repo.commit(
        "one",
        {"app/cm.yaml": "a: 1\n", "app/README.md": "x", "docs/a.yaml": "b: 1\n", "keep.md": "k"},
    )
    rev = source.fetch(repo.url)
    tree = source.checkout(repo.url, rev.sha, ignore="*.md\n!keep.md\ndocs/\n")
    files = sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file())
    assert files == ["app/cm.yaml", "keep.md"]
    assert not (tree / ".git").exists()
    assert source.checkout(repo.url, sha, ignore="*.md\n!keep.md\ndocs/\n") == tree


def test_checkout_keeps_symlinks_as_links_for_render_to_judge(
    repo: Repo, source: GitSource
) -> None:
    repo.commit("one", {"app/cm.yaml": "a: 1\n"})
    (repo.path / "app" / "escape.yaml").symlink_to("/etc/hostname")
    rev_sha = repo.commit("link")
    tree = source.checkout(repo.url, source.fetch(repo.url).sha)
    assert rev_sha
    assert (tree / "app" / "escape.yaml").is_symlink()


def test_pure_resolution_prefers_semver_over_tag_over_branch() -> None:
    refs = {"refs/heads/main": "a" * 40, "refs/tags/v1.0.0": "b" * 40, "refs/tags/x": "c" * 40}
    assert resolve(refs).sha == "a" * 40
    assert resolve(refs, branch="main", tag="x").sha == "c" * 40
    assert resolve(refs, tag="x", semver="1.x").sha == "b" * 40
    with pytest.raises(RefError, match=r"not valid"):
        select_semver(">>>1", {"v1.0.0": "b"})


def test_a_resolved_commit_is_served_from_memory_without_git(
    repo: Repo, source: GitSource, tmp_path: Path
) -> None:
    repo.commit("first", {"app/cm.yaml": "a: 1\n"})
    rev = source.fetch(repo.url, branch="main")
    (tmp_path / "origin").rename(tmp_path / "gone")  # any git fetch would now fail
    assert source.fetch(repo.url, commit=rev.sha) == rev
    with pytest.raises(SourceError):
        source.fetch(repo.url, branch="main")  # a branch is always fetched again
    tree = source.checkout(repo.url, rev.sha)
    assert (tree / "app" / "cm.yaml").read_text() == "a: 1\n"


def test_concurrent_fetches_of_one_url_share_the_mirror_safely(
    repo: Repo, source: GitSource
) -> None:
    """A Source's fetch and Applications' pinned fetches of one URL run on several
    workers at once; each must see the mirror whole (no racing `git init` or ref lock)."""
    from concurrent.futures import ThreadPoolExecutor

    tip = repo.commit("one", {"app/cm.yaml": "a: 1\n"})
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(source.fetch, repo.url, branch="main") for _ in range(8)]
        futures += [pool.submit(source.fetch, repo.url, commit=tip) for _ in range(8)]
        shas = {f.result().sha for f in futures}
    assert shas == {tip}


@pytest.fixture
def served(repo: Repo) -> Iterator[GitServer]:
    """``repo`` over smart HTTP (real `git http-backend`), fetches counted at the server."""
    server = GitServer(repo.path.parent)
    yield server
    server.stop()


def test_pinned_commit_on_many_workers_is_fetched_once(
    repo: Repo, served: GitServer, tmp_path: Path
) -> None:
    """Applications pinned to one commit, reconciled by many workers at once: the first
    fetch answers them all (the waiters on the mirror lock look at memory again), and a
    new GitSource on the same cache (a restart, a new leader) answers from the mirror."""
    from concurrent.futures import ThreadPoolExecutor

    tip = repo.commit("one", {"app/cm.yaml": "a: 1\n"})
    url = served.url(repo.path.name)

    def pinned_by_16(source: GitSource) -> set[str]:
        with ThreadPoolExecutor(max_workers=16) as pool:
            return {r.sha for r in pool.map(lambda _: source.fetch(url, commit=tip), range(16))}

    assert pinned_by_16(GitSource(tmp_path / "cache", timeout=30)) == {tip}
    assert served.fetches[repo.path.name] == 1
    assert pinned_by_16(GitSource(tmp_path / "cache", timeout=30)) == {tip}
    assert served.fetches[repo.path.name] == 1  # the mirror had it: no fetch at all
    source = GitSource(tmp_path / "cache", timeout=30)
    assert source.fetch(url, branch="main").sha == tip  # a branch is always fetched
    assert served.fetches[repo.path.name] == 2
    with ThreadPoolExecutor(max_workers=16) as pool:  # 16 checkouts of it: built once
        trees = set(pool.map(lambda _: source.checkout(url, tip, max_file=1 << 20), range(16)))
    assert len(trees) == 1 and (trees.pop() / "app" / "cm.yaml").read_text() == "a: 1\n"


def test_a_pinned_commit_the_mirror_lacks_is_fetched(
    repo: Repo, served: GitServer, tmp_path: Path
) -> None:
    """The mirror is only a shortcut for commits it holds: a newer one is fetched."""
    url = served.url(repo.path.name)
    repo.commit("one")
    source = GitSource(tmp_path / "cache", timeout=30)
    source.fetch(url, branch="main")
    newer = repo.commit("two")
    assert GitSource(tmp_path / "cache", timeout=30).fetch(url, commit=newer).sha == newer
    assert served.fetches[repo.path.name] == 2
