"""Git sources: fetch into a bare mirror, resolve a ref, export a commit's tree.

The shell around ``refs.resolve``. Everything goes through the git CLI; nothing
credential-bearing is written into a repository config or shown in a message:
tokens travel in environment-only git config, SSH keys in 0600 temp files, and
every error text passes through ``redact``.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pathspec

from quarterdeck.delivery.refs import RefError, Resolved, resolve
from quarterdeck.delivery.tenancy import mask

_FULL_SHA = re.compile(r"[0-9a-f]{40}")
_AUTH_HINTS = (
    "Authentication failed",
    "could not read Username",
    "Permission denied",
    "terminal prompts disabled",
    "401",
    "403",
)
_UNREACHABLE_HINTS = (
    "does not appear to be a git repository",
    "Could not resolve host",
    "unable to access",
    "Connection refused",
    "not found",
    "timed out",
)


class SourceError(Exception):
    """A source could not be fetched or checked out; the message is safe to show."""


@dataclass(frozen=True)
class Credentials:
    """What a Source's secretRef holds: an HTTPS token or an SSH key with known_hosts."""

    username: str = "git"
    token: str = ""
    identity: str = ""
    known_hosts: str = ""

    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.token, self.identity) if s)


@dataclass(frozen=True)
class Revision:
    """A resolved commit with the metadata a status shows."""

    sha: str
    ref: str
    time: str
    author: str
    message: str


def redact(text: str, secrets: Sequence[str] = ()) -> str:
    """``text`` without URL userinfo or any of ``secrets``."""
    out = mask(text)
    for secret in secrets:
        out = out.replace(secret, "***")
    return out


def _key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class GitSource:
    """Mirrors and checkouts of git repositories under one cache directory."""

    def __init__(self, cache_dir: Path, timeout: float = 60.0) -> None:
        self.cache_dir = cache_dir
        self.timeout = timeout
        # A full commit SHA names immutable content: once fetched, its Revision is reused
        # and many Applications on one commit cost no git call; checkouts are built once.
        self._revisions: dict[tuple[str, str], Revision] = {}
        self._locks: dict[Path, threading.Lock] = {}
        self._guard = threading.Lock()
        self.checked: set[tuple[Path, str, object]] = set()  # (checkout, path, limits) passed
        self.refused: dict[tuple[Path, str, object], str] = {}  # ... refused, and why

    def mirror_path(self, url: str) -> Path:
        return self.cache_dir / "mirrors" / f"{_key(url)}.git"

    @contextmanager
    def _env(self, creds: Credentials | None) -> Iterator[dict[str, str]]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        env.update(
            GIT_TERMINAL_PROMPT="0",
            GIT_ASKPASS="true",
            GIT_CONFIG_NOSYSTEM="1",
            GIT_CONFIG_GLOBAL=os.devnull,
            LC_ALL="C",
        )
        with tempfile.TemporaryDirectory(prefix="qd-git-") as tmp:
            if creds and creds.token:
                basic = base64.b64encode(f"{creds.username}:{creds.token}".encode()).decode()
                env.update(
                    GIT_CONFIG_COUNT="1",
                    GIT_CONFIG_KEY_0="http.extraHeader",
                    GIT_CONFIG_VALUE_0=f"Authorization: Basic {basic}",
                )
            if creds and creds.identity:
                key = Path(tmp) / "identity"
                key.write_text(
                    creds.identity if creds.identity.endswith("\n") else creds.identity + "\n"
                )
                key.chmod(0o600)
                hosts = Path(tmp) / "known_hosts"
                hosts.write_text(creds.known_hosts)
                env["GIT_SSH_COMMAND"] = (
                    f"ssh -F /dev/null -i {key} -o IdentitiesOnly=yes -o BatchMode=yes "
                    f"-o UserKnownHostsFile={hosts} -o StrictHostKeyChecking=yes"
                )
            yield env

    def _git(
        self, args: Sequence[str], *, env: dict[str, str], secrets: Sequence[str] = (), what: str
    ) -> str:
        try:
            done = subprocess.run(
                ["git", *args],
                env=env,
                capture_output=True,
                text=True,
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise SourceError(f"{what}: git timed out after {self.timeout:g}s") from None
        if done.returncode != 0:
            raise SourceError(
                f"{what}: {self._explain(done.stderr)}: {redact(tool_reason(done.stderr), secrets)}"
            )
        return done.stdout

    @staticmethod
    def _explain(stderr: str) -> str:
        if any(h in stderr for h in _AUTH_HINTS):
            return "authentication failed"
        if any(h in stderr for h in _UNREACHABLE_HINTS):
            return "repository unreachable"
        return "git failed"

    def fetch(
        self,
        url: str,
        *,
        branch: str = "",
        tag: str = "",
        semver: str = "",
        commit: str = "",
        credentials: Credentials | None = None,
    ) -> Revision:
        """Update the mirror of ``url`` and resolve the ref to a commit with its metadata.

        A full commit SHA resolved before (by any ref) is answered from memory without a
        git call: the Source's fetch serves every Application pinned to its revision.
        """
        pinned = bool(_FULL_SHA.fullmatch(commit))
        known = self._revisions.get((url, commit)) if pinned else None
        if known is not None:
            return known
        # One git process at a time per mirror: a Source's fetch and an Application's
        # pinned-commit fetch of the same URL, run by two workers at once, raced in
        # `git init` ("cannot copy hooks") and on ref locks ("cannot lock ref").
        with self._lock_for(self.mirror_path(url)):
            # Looked up again under the lock: the workers that queued on it behind the
            # first fetch of a commit are answered by that fetch, not by one fetch each;
            # a commit the mirror already holds (fetched before a restart or a change of
            # leader, whose memory starts empty) costs one local git call, no fetch.
            if pinned:
                known = self._revisions.get((url, commit)) or self._mirrored(url, commit)
            revision = known or self._fetch(url, branch, tag, semver, commit, credentials)
            self._revisions[(url, revision.sha)] = revision
        return revision

    def _mirrored(self, url: str, sha: str) -> Revision | None:
        """The commit ``sha`` from the mirror of ``url`` without fetching, if it is there."""
        mirror = self.mirror_path(url)
        if not (mirror / "HEAD").exists():
            return None
        with self._env(None) as env:
            try:
                return self._revision(mirror, Resolved(sha=sha, ref=f"commit/{sha}"), env)
            except SourceError:  # not (yet) in the mirror: fetch it
                return None

    def _lock_for(self, path: Path) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(path, threading.Lock())

    def _fetch(
        self,
        url: str,
        branch: str,
        tag: str,
        semver: str,
        commit: str,
        credentials: Credentials | None,
    ) -> Revision:
        secrets = credentials.secrets() if credentials else ()
        shown = redact(url, secrets)
        mirror = self.mirror_path(url)
        with self._env(credentials) as env:
            if not (mirror / "HEAD").exists():
                mirror.parent.mkdir(parents=True, exist_ok=True)
                self._git(["init", "-q", "--bare", str(mirror)], env=env, what="init mirror")
            self._git(
                [
                    "-C",
                    str(mirror),
                    "fetch",
                    "-q",
                    "--prune",
                    "--no-tags",
                    "--",
                    url,
                    "+refs/heads/*:refs/heads/*",
                    "+refs/tags/*:refs/tags/*",
                ],
                env=env,
                secrets=secrets,
                what=f"fetch {shown}",
            )
            if commit:
                resolved = self._commit(mirror, url, commit, env, secrets)
            else:
                try:
                    resolved = resolve(
                        self._refs(mirror, env), branch=branch, tag=tag, semver=semver
                    )
                except RefError as err:
                    raise SourceError(f"{shown}: {err}") from None
            return self._revision(mirror, resolved, env)

    def _commit(
        self, mirror: Path, url: str, commit: str, env: dict[str, str], secrets: Sequence[str]
    ) -> Resolved:
        probe = ["-C", str(mirror), "rev-parse", "-q", "--verify", f"{commit}^{{commit}}"]
        try:
            sha = self._git(probe, env=env, what="resolve commit").strip()
        except SourceError:
            try:  # not on a branch or tag: ask the server for the object itself
                self._git(
                    ["-C", str(mirror), "fetch", "-q", "--", url, commit],
                    env=env,
                    secrets=secrets,
                    what="fetch commit",
                )
                sha = self._git(probe, env=env, what="resolve commit").strip()
            except SourceError:
                raise SourceError(
                    f"{redact(url, secrets)}: commit {commit!r} does not exist"
                ) from None
        return Resolved(sha=sha, ref=f"commit/{sha}")

    def _refs(self, mirror: Path, env: dict[str, str]) -> dict[str, str]:
        out = self._git(
            ["-C", str(mirror), "for-each-ref", "--format=%(refname) %(objectname) %(*objectname)"],
            env=env,
            what="list refs",
        )
        refs: dict[str, str] = {}
        for line in out.splitlines():
            name, sha, *peeled = line.split(" ")
            refs[name] = peeled[0] if peeled and peeled[0] else sha
        return refs

    def _revision(self, mirror: Path, resolved: Resolved, env: dict[str, str]) -> Revision:
        out = self._git(
            ["-C", str(mirror), "log", "-1", "--format=%H%x1f%cI%x1f%an <%ae>%x1f%B", resolved.sha],
            env=env,
            what="read commit",
        )
        sha, when, author, message = out.split("\x1f", 3)
        return Revision(
            sha=sha, ref=resolved.ref, time=when, author=author, message=message.strip()
        )

    def checkout(
        self, url: str, sha: str, ignore: str = "", max_file: int = 0, max_total: int = 0
    ) -> Path:
        """The tree of ``sha`` as plain files (no .git), ignored paths removed.

        ``max_file``/``max_total`` (bytes, 0: no bound) are checked on the sizes git
        records for the tree before anything is extracted: a refused commit costs
        neither memory nor disk.

        Checkouts are immutable and keyed by commit and ignore rules, so a cached one
        is reused; a new one is built beside the cache and renamed into place.
        """
        target = self.cache_dir / "checkouts" / f"{_key(url)}-{sha[:20]}-{_key(ignore)[:8]}"
        if target.is_dir():
            return target
        with self._lock_for(target):  # concurrent syncs of one commit build it once
            if target.is_dir():  # built while this one waited: neither listed nor built again
                return target
            if max_file or max_total:
                self._check_sizes(url, sha, ignore, max_file, max_total)
            return self._checkout(url, sha, ignore, target)

    def _check_sizes(self, url: str, sha: str, ignore: str, max_file: int, max_total: int) -> None:
        """Refuse a tree with a file over ``max_file`` or more than ``max_total`` bytes."""
        spec = pathspec.GitIgnoreSpec.from_lines(ignore.splitlines())
        with self._env(None) as env:
            listing = self._git(
                ["-C", str(self.mirror_path(url)), "ls-tree", "-r", "-l", "-z", sha],
                env=env,
                what=f"list {sha[:12]}",
            )
        total = 0
        for entry in listing.split("\0"):
            meta, _, name = entry.partition("\t")
            fields = meta.split()
            if len(fields) < 4 or fields[1] != "blob" or (ignore.strip() and spec.match_file(name)):
                continue
            size = int(fields[3])
            total += size
            if max_file and size > max_file:
                raise SourceError(
                    f"revision {sha[:12]}: {name}: file is {size} bytes, over the limit of "
                    f"{max_file}; nothing was checked out"
                )
        if max_total and total > max_total:
            raise SourceError(
                f"revision {sha[:12]}: repository is {total} bytes, over the limit of "
                f"{max_total}; nothing was checked out"
            )

    def _checkout(self, url: str, sha: str, ignore: str, target: Path) -> Path:
        if target.is_dir():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=target.parent))
        try:
            with (
                self._env(None) as env,
                subprocess.Popen(
                    ["git", "-C", str(self.mirror_path(url)), "archive", "--format=tar", sha],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                ) as proc,
            ):
                assert proc.stdout is not None and proc.stderr is not None
                try:  # streamed: the archive is never held in memory
                    with tarfile.open(fileobj=proc.stdout, mode="r|") as archive:
                        archive.extractall(staging, filter="tar")
                except tarfile.TarError as err:
                    proc.kill()
                    raise SourceError(f"checkout {sha[:12]}: {err}") from None
                stderr = proc.stderr.read().decode(errors="replace")
                if proc.wait(timeout=self.timeout) != 0:
                    raise SourceError(f"checkout {sha[:12]}: {tool_reason(stderr)}")
            remove_ignored(staging, ignore)
            staging.rename(target)
        except subprocess.TimeoutExpired:
            shutil.rmtree(staging, ignore_errors=True)
            raise SourceError(
                f"checkout {sha[:12]}: git timed out after {self.timeout:g}s"
            ) from None
        except (OSError, SourceError):
            shutil.rmtree(staging, ignore_errors=True)
            if not target.is_dir():
                raise
        return target


def remove_ignored(root: Path, patterns: str) -> None:
    """Delete files under ``root`` that gitignore-style ``patterns`` match."""
    spec = pathspec.GitIgnoreSpec.from_lines(patterns.splitlines())
    if not patterns.strip():
        return
    for path in sorted(root.rglob("*"), reverse=True):
        rel = path.relative_to(root).as_posix() + (
            "/" if path.is_dir() and not path.is_symlink() else ""
        )
        if spec.match_file(rel):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()


#: Lines git and kustomize add after the cause that say nothing about it.
_BOILERPLATE = ("Please make sure you have the correct access rights", "and the repository exists.")


def tool_reason(text: str, limit: int = 4) -> str:
    """The lines of git's (or kustomize's) stderr that explain a failure, on one line: the
    cause comes first and generic advice last, so the last line alone hides it."""
    lines = [ln.strip().removeprefix("Error: ").removeprefix("error: ") for ln in text.splitlines()]
    kept = [ln for ln in lines if ln and ln.strip(": ") and not ln.startswith(_BOILERPLATE)]
    return "; ".join(dict.fromkeys(kept[:limit])) or "no output"
