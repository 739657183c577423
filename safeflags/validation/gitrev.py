"""A revision's tree, exported from git objects into a temporary directory.

The base of a pull request is read from the object database, never from the
work tree (which holds the head, possibly dirty), with git plumbing only:
`git archive` streams the tree, `tarfile` unpacks it with the `data` filter
(no absolute paths, no links out of the directory).
"""
from __future__ import annotations

import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from safeflags.errors import SafeflagsError


class RevisionError(SafeflagsError):
    """The base revision cannot be read (not a git repository, unknown ref)."""


@dataclass(frozen=True)
class Revision:
    ref: str  # as given
    commit: str  # the merge base the head is compared with
    root: Path  # the exported flag repository (same sub-directory as the head's)


def _git(cwd: Path, *args: str) -> str:
    try:
        proc = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True, check=False)
    except OSError as exc:
        raise RevisionError(f"cannot run git: {exc}") from None
    if proc.returncode != 0:
        raise RevisionError(f"git {' '.join(args)}: {proc.stderr.strip() or 'failed'}")
    return proc.stdout.strip()


@contextmanager
def exported(repo: Path, ref: str) -> Iterator[Revision]:
    """Export the merge base of `ref` and HEAD, so commits that landed on the
    base branch after the pull request forked are not read as its changes."""
    if not ref or ref.startswith("-"):
        raise RevisionError(f"not a revision: {ref!r}")
    try:
        # One process for all four answers: forks are most of this module's time.
        top, prefix, commit, head = (_git(repo, "rev-parse", "--show-toplevel", "--show-prefix",
                                          f"{ref}^{{commit}}", "HEAD^{commit}").split("\n") + ["", "", "", ""])[:4]
    except RevisionError:
        commit = ""
    if not commit:
        raise RevisionError(f"unknown revision {ref!r} (in CI, fetch it first: actions/checkout with fetch-depth: 0)")
    try:
        base = _git(repo, "merge-base", commit, head)
    except RevisionError:
        base = commit  # unrelated histories: compare with the ref itself
    with tempfile.TemporaryDirectory(prefix="safeflags-base-") as tmp:
        # From the top: a pathspec given inside a sub-directory is relative to it.
        args = ["git", "-C", top, "archive", "--format=tar", base]
        if prefix:
            args += ["--", prefix]
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout is not None
        try:
            with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
                tar.extractall(tmp, filter="data")
        except tarfile.TarError as exc:
            raise RevisionError(f"cannot export {ref}: {exc}") from None
        finally:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            code = proc.wait()
        if code != 0:
            raise RevisionError(f"git archive {base}: {err.strip()}")
        root = Path(tmp) / prefix
        root.mkdir(parents=True, exist_ok=True)
        yield Revision(ref, base, root)
