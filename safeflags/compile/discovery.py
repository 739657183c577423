"""Which files under flags/ are flag files, and which entries there may not
be, before any file is read: only directories are listed here, and no link
is followed (see `scan`)."""
from __future__ import annotations

import os
from dataclasses import dataclass

from safeflags.compile.config import RepoConfig
from safeflags.source.errors import SourceError
from safeflags.source.sandbox import BY_DESCRIPTOR, RepoFileRefused, open_dir_in_repo


@dataclass(frozen=True)
class Discovered:
    paths: list[str]  # the flag files, repository-relative, sorted
    refused: list[SourceError]  # entries under flags/ that may not be flag files, located


def discover(config: RepoConfig) -> list[str]:
    """Every flag file, repository-relative, sorted (see `scan`)."""
    return scan(config).paths


def scan(config: RepoConfig) -> Discovered:
    """Every `*.jsonnet` regular file under flags/, and the entries refused:
    a symbolic link named `*.jsonnet` or leading to a directory (whatever it
    leads to is never read: a link in a commit could name any file of the CI
    machine), anything else named `*.jsonnet` that is not a regular file, and
    a path longer than `MAX_PATH_BYTES`. Directories are walked by descriptor,
    so the checkout's own depth sets no limit, and no link is followed on the
    way down (links to other files are the import sandbox's to judge)."""
    base = config.flags_dir.relative_to(config.root).as_posix()
    walk = _Walk("" if base == "." else base + "/")
    if base != "." and config.flags_dir.is_symlink():
        walk.refuse(base, "the flags directory must not be a symbolic link: no link is followed to a flag file")
        return Discovered([], walk.refused)
    if not BY_DESCRIPTOR:
        walk.walk(str(config.flags_dir), walk.prefix)
        return Discovered(sorted(walk.found), walk.refused)
    try:
        top = open_dir_in_repo(config.root, base)
    except RepoFileRefused as exc:
        if os.path.lexists(config.flags_dir):
            walk.refuse(base, f"the flags directory: {exc}")
    else:
        try:
            walk.walk(top, walk.prefix)
        finally:
            os.close(top)
    return Discovered(sorted(walk.found), walk.refused)


# A flag's key is its path: longer than this it is no name a person types,
# and below it a checkout may sit ~3.5 KB deep before the system's own
# path limit (4 KB on Linux) matters. A fixed bound, not the system's: the
# same sources must compile the same wherever they are checked out.
MAX_PATH_BYTES = 512
_SUBDIR = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


class _Walk:
    """One walk of flags/, by directory descriptor (or by path where the
    system has no descriptor-relative opens)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.found: list[str] = []
        self.refused: list[SourceError] = []

    def refuse(self, rel: str, message: str, hint: str | None = None) -> None:
        self.refused.append(SourceError(rel, 0, 0, message, stage="load", code="SF106", hint=hint))

    def walk(self, top: int | str, rel: str) -> None:
        try:
            with os.scandir(top) as it:
                entries = sorted(it, key=lambda e: e.name)
        except FileNotFoundError:
            return
        except OSError as exc:
            self.refuse(rel.rstrip("/") or ".", f"cannot list this directory: {_reason(exc)}")
            return
        for e in entries:
            path = rel + e.name
            flag = e.name.endswith(".jsonnet")
            if e.is_symlink():
                if flag:
                    self.refuse(path, "a flag file must be a regular file, not a symbolic link: no link is followed "
                                "to a flag file", "copy the file here, or move what it shares to templates/ and "
                                "import it")
                elif _leads_to_dir(e):
                    self.refuse(path, "a directory of flags must not be a symbolic link: no link is followed under "
                                f"{self.prefix or './'}", "make it a real directory")
            elif flag and e.is_file(follow_symlinks=False):
                size = len(path.encode())
                if size > MAX_PATH_BYTES:
                    self.refuse(path, f"the path is {size:,} bytes long; a flag file's path may be at most "
                                f"{MAX_PATH_BYTES}", "shorten its namespace or its name")
                else:
                    self.found.append(path)
            elif e.is_dir(follow_symlinks=False):
                if len(path.encode()) >= MAX_PATH_BYTES:
                    self.refuse(path, f"directories nest deeper than a flag file's path may reach "
                                f"({MAX_PATH_BYTES} bytes): nothing below is read")
                else:
                    self._descend(top, e, path + "/")
            elif flag:
                self.refuse(path, "a flag file must be a regular file (this is a pipe, a socket or a device)")

    def _descend(self, top: int | str, entry: os.DirEntry[str], rel: str) -> None:
        if isinstance(top, str):
            self.walk(entry.path, rel)
            return
        try:
            sub = os.open(entry.name, _SUBDIR, dir_fd=top)
        except OSError as exc:  # unreadable, or replaced by a link since it was listed
            self.refuse(rel.rstrip("/"), f"cannot list this directory: {_reason(exc)}")
            return
        try:
            self.walk(sub, rel)
        finally:
            os.close(sub)


def _reason(exc: OSError) -> str:
    """Why, without the file name (which would hold the absolute path)."""
    return (exc.strerror or type(exc).__name__).lower()


def _leads_to_dir(entry: os.DirEntry[str]) -> bool:
    """Whether a link leads to a directory: a stat of its target, never a read."""
    try:
        return entry.is_dir(follow_symlinks=True)
    except OSError:
        return False
