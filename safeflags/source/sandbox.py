"""The import sandbox: a flag may import only files inside the repository's
configured roots (flags/ and templates/).

Absolute paths are refused outright; a relative path is resolved (symlinks
included) and refused if it lands outside every root, so neither `..` nor a
symlink can read the rest of the machine. The engine reports the refusal at
the importing file's line.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path, PurePosixPath


class ImportRefused(Exception):
    pass


class Importer:
    """The engine's import callback: `(base_dir, rel) -> (found_path, bytes)`.

    Paths handed to and from the engine are repository-relative, so every
    error message names files the way the user sees them.
    """

    def __init__(self, root: Path, roots: list[Path], library: list[Path]):
        self.root = root.resolve()
        self.roots = [r.resolve() for r in roots]
        self.library = library  # searched after the importing file's directory
        self.imported: set[str] = set()
        self._sources: dict[str, str] = {}
        self.refusal: tuple[str, str] | None = None  # (import path, why) of the first refusal
        # One resolution per (base, rel) for this importer's life (one
        # compile): the engine asks again in every VM.
        self._memo: dict[tuple[str, str], tuple[str, bytes, str] | str] = {}
        self._root_s = str(self.root)
        self._roots_s = [str(r) for r in self.roots]
        self._library_s = [str(lib) for lib in library]

    def reset(self) -> None:
        self.imported = set()
        self._sources = {}
        self.refusal = None

    def sources(self) -> dict[str, str]:
        return dict(self._sources)

    def remember(self, rel: str, text: str) -> None:
        self._sources[rel] = text

    def __call__(self, base: str, rel: str) -> tuple[str, bytes]:
        memo = self._memo.get((base, rel))
        if memo is None:
            try:
                found, data = self._resolve(base, rel)
            except ImportRefused as exc:
                memo = self._memo[(base, rel)] = str(exc)
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

    def _fast(self, base: str, rel: str) -> tuple[str, bytes] | None:
        """`_resolve` for the usual case (a plain relative path that exists
        as a file inside a root) with os.path instead of pathlib; None for
        anything else, which `_resolve` then decides."""
        if "\0" in base or "\0" in rel or rel.startswith(("/", "~")) or self._root_s == "/":
            return None
        for candidate in [os.path.join(self._root_s, base, rel)] + [os.path.join(lib, rel) for lib in self._library_s]:
            if not os.path.exists(candidate):
                continue
            resolved = os.path.realpath(candidate)
            inside = (resolved.startswith(self._root_s + "/")
                      and any(resolved.startswith(r + "/") for r in self._roots_s))
            if not inside or not os.path.isfile(resolved):
                return None
            with open(resolved, "rb") as f:
                return resolved[len(self._root_s) + 1:], f.read()
        return None

    def _resolve(self, base: str, rel: str) -> tuple[str, bytes]:
        fast = self._fast(base, rel)
        if fast is not None:
            return fast
        if PurePosixPath(rel).is_absolute() or Path(rel).is_absolute() or rel.startswith("~"):
            raise ImportRefused(f"import {rel!r} refused: absolute paths are not allowed; "
                                "import relative to the file or to templates/")
        candidates = [self.root / base / rel] + [lib / rel for lib in self.library]
        for candidate in candidates:
            if not candidate.exists():
                continue
            resolved = candidate.resolve()
            if not any(resolved.is_relative_to(r) for r in self.roots):
                roots = ", ".join(str(r.relative_to(self.root)) + "/" for r in self.roots)
                raise ImportRefused(
                    f"import {rel!r} refused: it resolves outside the repository's import roots ({roots})")
            if not resolved.is_file():
                raise ImportRefused(f"import {rel!r}: not a file")
            return resolved.relative_to(self.root).as_posix(), resolved.read_bytes()
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
