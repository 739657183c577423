"""The import sandbox: a flag may import only files inside the repository's
configured roots (flags/ and templates/).

Absolute paths are refused outright; a relative path is resolved (symlinks
included) and refused if it lands outside every root, so neither `..` nor a
symlink can read the rest of the machine. The engine reports the refusal at
the importing file's line.
"""
from __future__ import annotations

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

    def reset(self) -> None:
        self.imported = set()
        self._sources = {}
        self.refusal = None

    def sources(self) -> dict[str, str]:
        return dict(self._sources)

    def remember(self, rel: str, text: str) -> None:
        self._sources[rel] = text

    def __call__(self, base: str, rel: str) -> tuple[str, bytes]:
        try:
            return self._resolve(base, rel)
        except ImportRefused as exc:
            if self.refusal is None:
                self.refusal = (rel, str(exc))
            raise

    def _resolve(self, base: str, rel: str) -> tuple[str, bytes]:
        if PurePosixPath(rel).is_absolute() or Path(rel).is_absolute() or rel.startswith("~"):
            raise ImportRefused(f"import {rel!r} refused: absolute paths are not allowed; import relative to the file or to templates/")
        candidates = [self.root / base / rel] + [lib / rel for lib in self.library]
        for candidate in candidates:
            if not candidate.exists():
                continue
            resolved = candidate.resolve()
            if not any(resolved.is_relative_to(r) for r in self.roots):
                roots = ", ".join(str(r.relative_to(self.root)) + "/" for r in self.roots)
                raise ImportRefused(f"import {rel!r} refused: it resolves outside the repository's import roots ({roots})")
            if not resolved.is_file():
                raise ImportRefused(f"import {rel!r}: not a file")
            found = resolved.relative_to(self.root).as_posix()
            data = resolved.read_bytes()
            self.imported.add(found)
            self._sources[found] = data.decode("utf-8", errors="replace")
            return found, data
        raise ImportRefused(f"import {rel!r}: no such file next to {base or './'} or in the template library")
