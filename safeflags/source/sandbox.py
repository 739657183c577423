"""The import sandbox: a flag may import only files inside the repository's
configured roots (flags/ and templates/), and the template library that
ships in the package.

Absolute paths are refused outright; a relative path is resolved (symlinks
included) and refused if it lands outside every root, so neither `..` nor a
symlink can read the rest of the machine. The engine reports the refusal at
the importing file's line.

An import is looked up next to the importing file, then in the repository's
own library (`templates_dir`), then in the packaged library: a repository
that vendors `safeflags.libsonnet` gets its copy, one that vendors nothing
gets the release it installed. The packaged library is a fixed root of its
own: its files import only each other, nothing may leave it (`..` into the
rest of the package is refused like `..` out of the repository), and they
are named `<safeflags>/<file>` to the engine and in every message, never by
the absolute path of the installation.

Flag files themselves, and the source lines errors quote, are read by
`open_in_repo`: below the repository root no symbolic link is followed at
all, and no error names anything but the repository-relative path.
"""
from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
from pathlib import Path, PurePosixPath

from safeflags.version import TEMPLATES_VERSION

# The packaged template library, and the name its files go by: like Python's
# `<frozen ...>`, a name and not a place, so no message shows where the
# package is installed.
PACKAGED_TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
PACKAGED = "<safeflags>"


class ImportRefused(Exception):
    pass


class RepoFileRefused(Exception):
    """A repository file that may not be read; the message names no path."""


_NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NO_FOLLOW | getattr(os, "O_CLOEXEC", 0)
_FILE_FLAGS = os.O_RDONLY | _NO_FOLLOW | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
# Walking by directory descriptors needs all three; elsewhere each part is lstat-ed first (racy, but
# the threat is committed content, not a concurrent writer).
BY_DESCRIPTOR = bool(_NO_FOLLOW) and hasattr(os, "O_DIRECTORY") and os.open in os.supports_dir_fd


def _why(exc: OSError) -> str:
    """An OSError's reason without its file name, which holds the machine's absolute path."""
    if exc.errno in (errno.ELOOP, errno.EMLINK):  # what O_NOFOLLOW answers for a link (EMLINK on FreeBSD)
        return "it is a symbolic link, and no link is followed below the repository root"
    if exc.errno == errno.ENOTDIR:
        return "a part of its path is not a directory (or is a symbolic link)"
    return (exc.strerror or type(exc).__name__).lower()


def open_in_repo(root: Path | str, rel: str) -> int:
    """A read-only descriptor of the regular file `rel` (repository-relative,
    `/`-separated) under `root`, reached without following any symbolic link
    below `root` and without building its absolute path (so no path length
    limit applies either). Raises RepoFileRefused with a message free of
    paths; the caller closes the descriptor."""
    parts = rel.split("/")
    if not rel or rel.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\0" in rel:
        raise RepoFileRefused("not a plain repository-relative path")
    if not BY_DESCRIPTOR:
        return _open_checked(Path(root), parts)
    fd = open_dir_in_repo(root, "/".join(parts[:-1]))
    try:
        found = os.open(parts[-1], _FILE_FLAGS, dir_fd=fd)
    except OSError as exc:
        raise RepoFileRefused(f"cannot read: {_why(exc)}") from None
    finally:
        os.close(fd)
    return _regular(found)


def open_dir_in_repo(root: Path | str, rel: str) -> int:
    """A descriptor of directory `rel` under `root` ("" for the root itself),
    reached as `open_in_repo` reaches a file. Needs descriptor-relative
    opens (`BY_DESCRIPTOR`)."""
    try:
        fd = os.open(root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise RepoFileRefused(f"cannot open the repository: {_why(exc)}") from None
    try:
        for part in [p for p in rel.split("/") if p not in ("", ".")]:
            if part == "..":
                raise RepoFileRefused("not a plain repository-relative path")
            sub = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = sub
    except OSError as exc:
        os.close(fd)
        raise RepoFileRefused(f"cannot read: {_why(exc)}") from None
    except RepoFileRefused:
        os.close(fd)
        raise
    return fd


def _open_checked(root: Path, parts: list[str]) -> int:
    path = root
    try:
        for part in parts:
            path = path / part
            if stat.S_ISLNK(os.lstat(path).st_mode):
                raise RepoFileRefused(f"cannot read: {_why(OSError(errno.ELOOP, ''))}")
        found = os.open(path, _FILE_FLAGS)
    except OSError as exc:
        raise RepoFileRefused(f"cannot read: {_why(exc)}") from None
    return _regular(found)


def _regular(fd: int) -> int:
    """`fd` if it is a regular file (a FIFO would block, a device never end), in blocking mode."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise RepoFileRefused("cannot read: not a regular file")
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)
    return fd


def read_repo_file(root: Path | str, rel: str) -> bytes:
    """The bytes of repository file `rel`, read as `open_in_repo` allows."""
    with os.fdopen(open_in_repo(root, rel), "rb") as fh:
        return fh.read()


_DECLARED = re.compile(rb"^\s*version::\s*'([^'\n]{1,64})'", re.MULTILINE)


def library_version(root: Path, templates_dir: Path) -> str:
    """The template library a repository's flags get for `import 'safeflags.libsonnet'`:
    the packaged release's version, or, for a copy vendored in `templates_dir`, the
    version that copy declares, marked as vendored."""
    rel = os.path.relpath(os.path.normpath(templates_dir), root).replace(os.sep, "/")
    file = f"{rel}/safeflags.libsonnet" if rel != "." else "safeflags.libsonnet"
    try:
        data = read_repo_file(root, file)
    except RepoFileRefused:
        # A link the sandbox may still follow inside the roots: vendored, of no version this can read.
        if not os.path.lexists(os.path.join(root, file)):
            return TEMPLATES_VERSION
        data = b""
    declared = _DECLARED.search(data)
    version = declared.group(1).decode("utf-8", errors="replace") if declared else "unknown"
    return f"{version} (vendored in {rel}/)"


class Importer:
    """The engine's import callback: `(base_dir, rel) -> (found_path, bytes)`.

    Paths handed to and from the engine are repository-relative (or
    `<safeflags>/...` for the packaged library), so every error message
    names files the way the user sees them. `packaged=None` leaves the
    packaged library out.
    """

    def __init__(self, root: Path, roots: list[Path], library: list[Path],
                 packaged: Path | None = PACKAGED_TEMPLATES):
        self.root = root.resolve()
        self.roots = [r.resolve() for r in roots]
        self.library = library  # searched after the importing file's directory
        self.packaged = packaged.resolve() if packaged is not None else None  # searched last
        self.imported: set[str] = set()
        self._sources: dict[str, str] = {}
        self.refusal: tuple[str, str] | None = None  # (import path, why) of the first refusal
        # One resolution per (base, rel) for this importer's life (one
        # compile): the engine asks again in every VM.
        self._memo: dict[tuple[str, str], tuple[str, bytes, str] | str] = {}
        self._root_s = str(self.root)
        self._roots_s = [str(r) for r in self.roots]
        self._library_s = [str(lib) for lib in library]
        self._packaged_s = str(self.packaged) if self.packaged is not None else None

    def reset(self) -> None:
        self.imported = set()
        self._sources = {}
        self.refusal = None

    def sources(self) -> dict[str, str]:
        return dict(self._sources)

    def remember(self, rel: str, text: str) -> None:
        self._sources[rel] = text

    def answered(self, base: str, rel: str) -> bytes | None:
        """The bytes the engine was given for importing `rel` from `base`, if it was given any."""
        memo = self._memo.get((base, rel))
        return memo[1] if isinstance(memo, tuple) else None

    def __call__(self, base: str, rel: str) -> tuple[str, bytes]:
        memo = self._memo.get((base, rel))
        if memo is None:
            try:
                found, data = self._resolve(base, rel)
            except ImportRefused as exc:
                memo = self._memo[(base, rel)] = str(exc)
            except OSError as exc:  # its text would name the absolute path
                memo = self._memo[(base, rel)] = f"import {rel!r}: cannot read: {_why(exc)}"
            else:
                memo = self._memo[(base, rel)] = (found, data, data.decode("utf-8", errors="replace"))
        if isinstance(memo, str):
            if self.refusal is None:
                self.refusal = (rel, memo)
            raise ImportRefused(memo)
        found, data, text = memo
        self.imported.add(found)
        self._sources[found] = text
        return found, data

    def _candidates(self, base: str, rel: str) -> list[tuple[str, str | None]]:
        """Where `import rel` from `base` may be, in order, each with the
        packaged root it must stay in (None: a repository root)."""
        packaged = self._packaged_s
        if packaged is not None and (base == PACKAGED or base.startswith(PACKAGED + "/")):
            # Inside the packaged library: its own files only, so a repository
            # can shadow the library as a whole but never half of it.
            return [(os.path.join(packaged, base[len(PACKAGED) + 1:], rel), packaged)]
        found: list[tuple[str, str | None]] = [(os.path.join(self._root_s, base, rel), None)]
        found += [(os.path.join(lib, rel), None) for lib in self._library_s]
        if packaged is not None:
            found.append((os.path.join(packaged, rel), packaged))
        return found

    def _fast(self, base: str, rel: str) -> tuple[str, bytes] | None:
        """`_resolve` for the usual case (a plain relative path that exists
        as a file inside a root) with os.path instead of pathlib; None for
        anything else, which `_resolve` then decides."""
        if "\0" in base or "\0" in rel or rel.startswith(("/", "~")) or self._root_s == "/":
            return None
        for candidate, packaged in self._candidates(base, rel):
            if not os.path.exists(candidate):
                continue
            resolved = os.path.realpath(candidate)
            if packaged is not None:
                inside = resolved.startswith(packaged + "/")
            else:
                inside = (resolved.startswith(self._root_s + "/")
                          and any(resolved.startswith(r + "/") for r in self._roots_s))
            if not inside or not os.path.isfile(resolved):
                return None
            with open(resolved, "rb") as f:
                data = f.read()
            if packaged is not None:
                return f"{PACKAGED}/{resolved[len(packaged) + 1:]}", data
            return resolved[len(self._root_s) + 1:], data
        return None

    def _resolve(self, base: str, rel: str) -> tuple[str, bytes]:
        fast = self._fast(base, rel)
        if fast is not None:
            return fast
        if PurePosixPath(rel).is_absolute() or Path(rel).is_absolute() or rel.startswith("~"):
            raise ImportRefused(f"import {rel!r} refused: absolute paths are not allowed; "
                                "import relative to the file or to templates/")
        for name, packaged in self._candidates(base, rel):
            candidate = Path(name)
            if not candidate.exists():
                continue
            resolved = candidate.resolve()
            if packaged is not None:
                if not resolved.is_relative_to(packaged):
                    raise ImportRefused(
                        f"import {rel!r} refused: it resolves outside the packaged template library ({PACKAGED}/)")
                found = f"{PACKAGED}/{resolved.relative_to(packaged).as_posix()}"
            elif not any(resolved.is_relative_to(r) for r in self.roots):
                roots = ", ".join(str(r.relative_to(self.root)) + "/" for r in self.roots)
                raise ImportRefused(
                    f"import {rel!r} refused: it resolves outside the repository's import roots ({roots})")
            else:
                found = resolved.relative_to(self.root).as_posix()
            if not resolved.is_file():
                raise ImportRefused(f"import {rel!r}: not a file")
            return found, resolved.read_bytes()
        raise ImportRefused(f"import {rel!r}: no such file next to {base or './'} or in the template library")


Call = tuple[str, str, str, str]
"""One import the evaluation made: (base dir, imported path, found path, sha256 of its bytes)."""


class RecordingImporter(Importer):
    """The sandbox importer, also noting each import the engine asked for
    and the hash of the bytes it got, for the cache's key."""

    def __init__(self, root: Path, roots: list[Path], library: list[Path]):
        super().__init__(root, roots, library)
        self.calls: list[Call] = []
        self._hashes: dict[str, tuple[bytes, str]] = {}

    def reset(self) -> None:
        super().reset()
        self.calls = []

    def __call__(self, base: str, rel: str) -> tuple[str, bytes]:
        found, data = super().__call__(base, rel)
        known = self._hashes.get(found)
        if known is None or known[0] is not data:
            known = self._hashes[found] = (data, hashlib.sha256(data).hexdigest())
        self.calls.append((base, rel, found, known[1]))
        return found, data
