"""A content-addressed cache of per-flag compile work.

Evaluating Jsonnet is the expensive stage, then parsing and lowering. The
cache keeps, per flag file, the Jsonnet output and the FlagSpec and
CompiledFlag bytes made from it, so a warm compile evaluates only what
changed. An entry is found by the file's path and bytes plus everything
else its output can depend on (engine and compiler versions, the catalog
ext code, the stack limit), and is used only if every import the evaluation
made still resolves to the same file with the same bytes: editing a
template library invalidates exactly the flags that imported it, and a new
file that would shadow an import is seen too (the lookup replays each
`import` through the same sandbox). Parsed results are further keyed by
`safeflags.yaml` and the compiler's own source.

Entries are written atomically (temporary file, then rename) and carry a
checksum: a torn, truncated or corrupt entry is a miss, never a result.
Location: `$SAFEFLAGS_CACHE_DIR`, else `<repo>/.safeflags-cache/`.
Keys hold no absolute paths, so two checkouts of one repository (a PR's
base and head) share entries for the files they have in common.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from safeflags.source.sandbox import ImportRefused, Importer

ENV = "SAFEFLAGS_CACHE_DIR"
DIR_NAME = ".safeflags-cache"
_MAGIC = b"SFC1"
_VARIANTS = 4  # outcomes kept per file version (e.g. a PR's base and head templates)
# Modules whose code decides what a flag's JSON parses and lowers to.
_COMPILER_MODULES = ("bucketing", "config", "locate", "lower", "model", "semver", "spec", "timestamps")

Call = tuple[str, str, str, str]
"""One import the evaluation made: (base dir, imported path, found path, sha256 of its bytes)."""


def default_dir(root: Path) -> Path:
    env = os.environ.get(ENV)
    return Path(env) if env else root / DIR_NAME


def digest(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        b = p.encode("utf-8") if isinstance(p, str) else p
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


def compiler_fingerprint() -> str:
    """The source of the compiler modules: a code change is a new key even
    when the version number stays the same (an editable install)."""
    import importlib

    parts: list[bytes] = []
    for name in _COMPILER_MODULES:
        mod = importlib.import_module(f"safeflags.{name}")
        parts.append(Path(str(mod.__file__)).read_bytes())
    return digest(*parts)


@dataclass(frozen=True)
class Entry:
    json_text: str
    imports: tuple[str, ...]
    calls: tuple[Call, ...]
    parse_key: str = ""  # what `spec` and `compiled` were made under; "" = not parsed
    spec: bytes = b""
    compiled: bytes = b""

    def to_json(self) -> dict[str, object]:
        return {
            "json_text": self.json_text, "imports": list(self.imports), "calls": [list(c) for c in self.calls],
            "parse_key": self.parse_key, "spec": base64.b64encode(self.spec).decode("ascii"),
            "compiled": base64.b64encode(self.compiled).decode("ascii"),
        }

    @classmethod
    def from_json(cls, d: dict[str, object]) -> Entry:
        calls = tuple((str(c[0]), str(c[1]), str(c[2]), str(c[3])) for c in d["calls"])  # type: ignore[attr-defined]
        return cls(
            json_text=str(d["json_text"]), imports=tuple(str(i) for i in d["imports"]),  # type: ignore[attr-defined]
            calls=calls, parse_key=str(d["parse_key"]), spec=base64.b64decode(str(d["spec"])),
            compiled=base64.b64decode(str(d["compiled"])),
        )


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


class CompileCache:
    """One compile's view of the cache directory."""

    def __init__(self, directory: Path, importer: Importer, settings_key: str, parse_key: str):
        self.dir = directory
        self.importer = importer
        self.settings_key = settings_key
        self.parse_key = parse_key
        self._resolved: dict[tuple[str, str], tuple[str, str] | None] = {}
        self.hits = self.misses = 0

    def _path(self, rel: str, source: bytes) -> Path:
        key = digest(_MAGIC, self.settings_key, rel, hashlib.sha256(source).digest())
        return self.dir / key[:2] / key[2:]

    def _resolve(self, base: str, rel: str) -> tuple[str, str] | None:
        """Where `import rel` from `base` lands now, and the hash of its bytes."""
        k = (base, rel)
        if k not in self._resolved:
            try:
                found, data = self.importer(base, rel)
            except (ImportRefused, OSError):
                self._resolved[k] = None
            else:
                self._resolved[k] = (found, hashlib.sha256(data).hexdigest())
        return self._resolved[k]

    def _valid(self, entry: Entry) -> bool:
        return all(self._resolve(base, rel) == (found, sha) for base, rel, found, sha in entry.calls)

    def _read(self, path: Path) -> list[Entry]:
        try:
            raw = path.read_bytes()
        except OSError:
            return []
        head, check, payload = raw[:4], raw[4:36], raw[36:]
        if head != _MAGIC or hashlib.sha256(payload).digest() != check:
            return []  # torn or corrupt: recompute
        try:
            return [Entry.from_json(d) for d in json.loads(payload)]
        except (ValueError, KeyError, TypeError, IndexError):
            return []

    def lookup(self, rel: str, source: bytes) -> Entry | None:
        for entry in self._read(self._path(rel, source)):
            if self._valid(entry):
                self.hits += 1
                return entry
        self.misses += 1
        return None

    def store(self, rel: str, source: bytes, entry: Entry) -> None:
        """Keep `entry` first among this file version's outcomes. Best effort:
        a cache that cannot be written only makes the next compile slower."""
        path = self._path(rel, source)
        rest = [e for e in self._read(path) if set(e.calls) != set(entry.calls)]
        payload = json.dumps([e.to_json() for e in [entry, *rest][:_VARIANTS]], separators=(",", ":")).encode("utf-8")
        try:
            if not self.dir.exists():
                self.dir.mkdir(parents=True, exist_ok=True)
                # Never part of the repository, whatever its .gitignore says
                # (an untracked cache would make the source revision "+dirty").
                (self.dir / ".gitignore").write_text("*\n", encoding="utf-8")
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(_MAGIC + hashlib.sha256(payload).digest() + payload)
                os.replace(tmp, path)
            except BaseException:
                os.unlink(tmp)
                raise
        except OSError:
            pass
