"""A revision's tree, exported from git objects into a temporary directory.

The base of a pull request is read from the object database, never from the
work tree (which holds the head, possibly dirty), with git plumbing only:
`git archive` streams the tree, `tarfile` unpacks it with the `data` filter
(no absolute paths, no links out of the directory). For a pull request's
base only what differs from the head needs compiling: `changed_paths` lists
it (one `git diff --raw`), and `export` can leave the flag files out but
the few it is given (`git cat-file --batch`).
"""
from __future__ import annotations

import os
import posixpath
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from safeflags.sdk.kernel.errors import SafeflagsError


class RevisionError(SafeflagsError):
    """The base revision cannot be read (not a git repository, unknown ref)."""


class NoCommitYet(RevisionError):
    """The repository has no commit at all: its first one is being made, so
    there is no base to compare with."""


@dataclass(frozen=True)
class Revision:
    ref: str  # as given
    commit: str  # the merge base the head is compared with
    root: Path  # the exported flag repository (same sub-directory as the head's)


def _git_bytes(cwd: Path, *args: str) -> bytes:
    try:
        proc = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, check=False)
    except OSError as exc:
        raise RevisionError(f"cannot run git: {exc}") from None
    if proc.returncode != 0:
        raise RevisionError(f"git {' '.join(args)}: {proc.stderr.decode(errors='replace').strip() or 'failed'}")
    return proc.stdout


def _git(cwd: Path, *args: str) -> str:
    return _git_bytes(cwd, *args).decode().strip()


@dataclass(frozen=True)
class Base:
    """Where the base revision lives: the checkout's top, the flag
    repository's prefix in it, and the merge base commit."""

    ref: str
    top: str
    prefix: str
    commit: str


def resolve(repo: Path, ref: str) -> Base:
    """The merge base of `ref` and HEAD, so commits that landed on the base
    branch after the pull request forked are not read as its changes."""
    if not ref or ref.startswith("-"):
        raise RevisionError(f"not a revision: {ref!r}")
    try:
        # One process for all four answers: forks are most of this module's time.
        answers = _git(repo, "rev-parse", "--show-toplevel", "--show-prefix", f"{ref}^{{commit}}", "HEAD^{commit}")
        top, prefix, commit, head = [*answers.split("\n"), "", "", "", ""][:4]
    except RevisionError:
        commit = ""
    if not commit:
        if _no_commits(repo):
            raise NoCommitYet(f"{ref!r}: the repository has no commit yet")
        raise RevisionError(f"unknown revision {ref!r} (in CI, fetch it first: actions/checkout with fetch-depth: 0)")
    try:
        base = _git(repo, "merge-base", commit, head)
    except RevisionError:
        base = commit  # unrelated histories: compare with the ref itself
    return Base(ref, top, prefix, base)


def _no_commits(repo: Path) -> bool:
    """A git repository without a single commit (not: a ref missing from a shallow clone)."""
    try:
        return _git(repo, "rev-list", "-n", "1", "--all") == ""
    except RevisionError:
        return False  # not a repository at all: the caller's error says so


def has_file(base: Base, rel: str) -> bool:
    """Whether the base commit holds `rel` (relative to the flag repository)."""
    proc = subprocess.run(["git", "-C", base.top, "cat-file", "-e", f"{base.commit}:{base.prefix}{rel}"],
                          capture_output=True, check=False)
    return proc.returncode == 0


@dataclass(frozen=True)
class Changed:
    """A path that differs between the base commit and the work tree."""

    status: str  # A, D, M, T (type change)
    link: bool  # a symbolic link on either side


def changed_paths(repo: Path, base: Base, untracked_in: list[str]) -> dict[str, Changed]:
    """Repository-relative paths that differ between the base commit and the
    work tree (committed, staged and unstaged changes alike), plus untracked
    files (ignored ones too: the compiler reads every file) under
    `untracked_in`."""
    out: dict[str, Changed] = {}
    raw = _git_bytes(repo, "diff", "--raw", "-z", "--no-renames", "--relative", base.commit, "--")
    fields = raw.split(b"\0")
    # Every field ends in NUL, so the split leaves one empty piece over: zip drops it.
    for meta, path in zip(fields[0::2], fields[1::2], strict=False):
        if not meta.startswith(b":"):
            continue
        src_mode, dst_mode, _, _, status = meta[1:].decode().split(" ")[:5]
        out[path.decode()] = Changed(status[:1], "120000" in (src_mode, dst_mode))
    if untracked_in:
        for path in _git_bytes(repo, "ls-files", "--others", "-z", "--", *untracked_in).split(b"\0"):
            if path:
                out.setdefault(path.decode(), Changed("A", False))
    return out


def flag_files(base: Base, flags_dir: str) -> list[str]:
    """The base revision's flag files (`<flags_dir>/**/*.jsonnet`), repository-relative."""
    names = _git_bytes(Path(base.top), "ls-tree", "-r", "-z", "--name-only", base.commit, "--",
                       base.prefix + flags_dir + "/").split(b"\0")
    cut = len(base.prefix)
    return sorted(n.decode()[cut:] for n in names if n.endswith(b".jsonnet"))


def export(base: Base, dest: Path, flags_dir: str | None = None, flags: Sequence[str] = (),
           work_tree: Path | None = None) -> Path:
    """Write the base tree into `dest` from git objects; returns the flag
    repository's directory in it. With `flags_dir`, the flag files under it
    are left out except `flags` (repository-relative), read in one
    `git cat-file --batch`. With `work_tree` (the head's flag repository),
    a flag file whose work-tree bytes hash to the very blob the base holds
    is hard-linked from there instead: the same bytes, proven by git's own
    hash, for one link instead of a file written (a template edit makes
    every base flag recompile, and 25,000 writes dominated the run)."""
    args = ["git", "-C", base.top, "archive", "--format=tar", base.commit, "--", base.prefix or "."]
    if flags_dir is not None:
        args.append(f":(exclude,glob){base.prefix}{flags_dir}/**/*.jsonnet")
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            tar.extractall(dest, filter="data")
    except tarfile.TarError as exc:
        raise RevisionError(f"cannot export {base.ref}: {exc}") from None
    finally:
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        code = proc.wait()
    if code != 0:
        raise RevisionError(f"git archive {base.commit}: {err.strip()}")
    root = dest / base.prefix
    root.mkdir(parents=True, exist_ok=True)
    if flags:
        todo = list(flags)
        if work_tree is not None and flags_dir is not None:
            linked = _link_same(base, root, work_tree, flags_dir, todo)
            todo = [rel for rel in todo if rel not in linked]
        if todo:
            _write_blobs(base, root, todo)
    return root


def _link_same(base: Base, root: Path, work_tree: Path, flags_dir: str, paths: list[str]) -> set[str]:
    """Hard-link into `root` the `paths` whose work-tree bytes are the base's
    blob (`git hash-object --no-filters`: the raw bytes, as the compiler
    reads them); returns those linked. Any failure leaves a path to the blob
    writer (a link across file systems, a file gone meanwhile)."""
    listing = _git_bytes(Path(base.top), "ls-tree", "-r", "-z", base.commit, "--", base.prefix + flags_dir + "/")
    cut = len(base.prefix)
    blobs = {}
    for entry in listing.split(b"\0"):
        meta, _, name = entry.partition(b"\t")
        parts = meta.split(b" ")
        if len(parts) == 3 and parts[0] in (b"100644", b"100755") and parts[1] == b"blob":
            blobs[name.decode()[cut:]] = parts[2].decode()
    candidates = [rel for rel in paths if rel in blobs and (work_tree / rel).is_file()
                  and not (work_tree / rel).is_symlink()]
    if not candidates:
        return set()
    proc = subprocess.run(["git", "hash-object", "--no-filters", "--stdin-paths"], cwd=work_tree,
                          input="".join(f"{rel}\n" for rel in candidates).encode(), capture_output=True, check=False)
    ids = proc.stdout.decode().split()
    if proc.returncode != 0 or len(ids) != len(candidates):
        return set()
    linked: set[str] = set()
    made: set[str] = set()
    for rel, oid in zip(candidates, ids, strict=True):
        if oid != blobs[rel]:
            continue
        parent = posixpath.dirname(rel)
        try:
            if parent not in made:
                (root / parent).mkdir(parents=True, exist_ok=True)
                made.add(parent)
            os.link(work_tree / rel, root / rel)
        except OSError:
            continue
        linked.add(rel)
    return linked


def _write_blobs(base: Base, root: Path, paths: Sequence[str]) -> None:
    request = "".join(f"{base.commit}:{base.prefix}{p}\n" for p in paths).encode()
    proc = subprocess.run(
        ["git", "-C", base.top, "cat-file", "--batch"], input=request, capture_output=True, check=False
    )
    if proc.returncode != 0:
        raise RevisionError(f"git cat-file {base.commit}: {proc.stderr.decode(errors='replace').strip()}")
    out, pos = proc.stdout, 0
    made: set[str] = set()  # a namespace holds many flags: one mkdir each, not one per file
    for rel in paths:
        end = out.index(b"\n", pos)
        header = out[pos:end].split(b" ")
        pos = end + 1
        if header[-1] == b"missing" or len(header) != 3:
            raise RevisionError(f"{rel} is not in {base.commit}")
        size = int(header[2])
        parent = posixpath.dirname(rel)
        if parent not in made:
            (root / parent).mkdir(parents=True, exist_ok=True)
            made.add(parent)
        with open(os.path.join(root, rel), "wb") as fh:
            fh.write(out[pos:pos + size])
        pos += size + 1  # the blob and its newline


@contextmanager
def exported(repo: Path, ref: str) -> Iterator[Revision]:
    """The whole tree of the merge base of `ref` and HEAD, from git objects."""
    base = resolve(repo, ref)
    with tempfile.TemporaryDirectory(prefix="safeflags-base-") as tmp:
        yield Revision(ref, base.commit, export(base, Path(tmp)))
