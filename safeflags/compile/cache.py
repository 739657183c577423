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
`safeflags.yaml`, and both by the compiler's own source and the template
library packaged with it.

A compile reads and writes the cache as a few pack files, not a file per
flag: each compile that changed anything writes one pack holding the
entries it used (the newest `_PACKS` are read, so a PR's base and head
compiles keep theirs), plus each flag file's size, times and inode with its
hash, so an unchanged file is not read again (as git's index does; a file
changed within `_RACY_NS` of being recorded is always read again).
Packs are written atomically (temporary file, then rename) and carry a
checksum: a torn, truncated or corrupt pack is a miss, never a result.
Location: `$SAFEFLAGS_CACHE_DIR`, else `<repo>/.safeflags-cache/`.
Keys hold no absolute paths, so two checkouts of one repository (a PR's
base and head) share entries for the files they have in common.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import json
import os
import struct
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from safeflags.source.sandbox import Call, Importer, ImportRefused

ENV = "SAFEFLAGS_CACHE_DIR"
DIR_NAME = ".safeflags-cache"
_MAGIC = b"SFC2"
_PACKS = 6  # packs read (the newest), each holding at most one outcome per file version; older ones are removed
_RACY_NS = 2_000_000_000
# Modules whose code decides what a flag's JSON parses and lowers to.
# The folders of the package whose code can decide what a flag compiles to:
# the compile side, stage 1, the SDK and its kernel (which the compiler
# imports) and the generated schemas. Whole folders, not a list of modules,
# so a module added to them is covered without anyone remembering to; a test
# checks that a compile loads no module outside them.
FINGERPRINTED = ("compile", "source", "sdk", "v1")
# The packaged template library is compile input as much as that code: a flag
# that imports it compiles to whatever it says (safeflags.source.sandbox).
TEMPLATES = "templates"

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


def fingerprinted_files(package: Path) -> list[Path]:
    """Every source file the compiler fingerprint covers, sorted: the code,
    then every file of the packaged template library."""
    files = [package / "__init__.py", package / "version.py"]
    for folder in FINGERPRINTED:
        files.extend(sorted(p for p in (package / folder).rglob("*.py") if "__pycache__" not in p.parts))
    files.extend(sorted(p for p in (package / TEMPLATES).rglob("*") if p.is_file() and "__pycache__" not in p.parts))
    return files


def compiler_fingerprint(package: Path | None = None) -> str:
    """The source of every module that can decide what a flag compiles to,
    and the packaged template library: a change is a new key even when the
    version number stays the same (an editable install, a patched copy)."""
    package = package or Path(__file__).resolve().parent.parent
    return _fingerprint(package)


# Libraries whose behaviour decides a compile's output as much as our own
# source: the Jsonnet engine, RE2 (what a pattern compiles to, what it
# refuses), pydantic (the model's parsing), protobuf (serialisation) and
# ruamel.yaml (what safeflags.yaml's text reads as: parsed results are keyed
# by that text).
LIBRARIES = ("gojsonnet", "google-re2", "pydantic", "protobuf", "ruamel.yaml")


def library_versions() -> list[str]:
    versions = []
    for dist in LIBRARIES:
        try:
            versions.append(f"{dist}=={importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            # No metadata (a vendored copy): its version cannot be told, say so in the key.
            versions.append(f"{dist}==unknown")
    return versions


@functools.cache
def _fingerprint(package: Path) -> str:
    parts: list[str | bytes] = [*library_versions()]
    for path in fingerprinted_files(package):
        parts += [path.relative_to(package).as_posix(), path.read_bytes()]
    return digest(*parts)


@dataclass(frozen=True)
class CacheEntry:
    json_text: str
    imports: tuple[str, ...]
    calls: tuple[Call, ...]
    parse_key: str = ""  # what `spec` and `compiled` were made under; "" = not parsed
    spec: bytes = b""
    compiled: bytes = b""


_REC = struct.Struct("<32sHIIIII")  # key, parse key, imports, calls group, json/spec/compiled lengths
_STAT = struct.Struct("<QqqQq32s")  # size, mtime_ns, ctime_ns, inode, when hashed (ns), sha256

StatRow = tuple[int, int, int, int, int, bytes]
"""A flag file's (size, mtime_ns, ctime_ns, inode, when hashed (ns), sha256)."""


class _Pack:
    """One pack file, checked and indexed; entries are decoded when used.

    Layout: magic, sha256 of the rest, u32 length of a JSON index (tables of
    parse keys, import lists, calls, call groups and the flag files of the
    stat rows), then fixed-size entry records, stat rows, and the texts."""

    def __init__(self, name: str, raw: bytes):
        self.name = name
        (n,) = struct.unpack_from("<I", raw, 36)
        index = json.loads(raw[40:40 + n])
        count, rows = int(index["entries"]), int(index["stats"])
        self.parse_keys = [str(k) for k in index["parse_keys"]]
        self.imports = [tuple(str(i) for i in group) for group in index["imports"]]
        calls = [(str(c[0]), str(c[1]), str(c[2]), str(c[3])) for c in index["calls"]]
        self.groups = [tuple(calls[i] for i in group) for group in index["groups"]]
        at = 40 + n
        self.records = list(_REC.iter_unpack(raw[at:at + count * _REC.size]))
        at += count * _REC.size
        rels = str(index["stat_files"]).split("\n") if rows else []
        stat_rows = _STAT.iter_unpack(raw[at:at + rows * _STAT.size])
        self.stats: dict[str, StatRow] = dict(zip(rels, stat_rows, strict=True))
        at += rows * _STAT.size
        if len(self.records) != count or len(self.stats) != rows:
            raise ValueError("short pack")
        self.keys = {rec[0]: i for i, rec in enumerate(self.records)}
        self.offsets = [at]
        for rec in self.records:
            self.offsets.append(self.offsets[-1] + rec[4] + rec[5] + rec[6])
        if self.offsets[-1] != len(raw):
            raise ValueError("short pack")
        self.raw = raw

    @classmethod
    def read(cls, path: Path) -> _Pack | None:
        try:
            raw = path.read_bytes()
        except OSError:
            return None
        if raw[:4] != _MAGIC or len(raw) < 40 or hashlib.sha256(memoryview(raw)[36:]).digest() != raw[4:36]:
            return None  # torn or corrupt: recompute
        try:
            return cls(path.name, raw)
        except (ValueError, KeyError, TypeError, IndexError, struct.error):
            return None

    def calls(self, i: int) -> tuple[Call, ...]:
        return self.groups[self.records[i][3]]

    def parts(self, i: int) -> tuple[bytes, bytes, bytes]:
        _, _, _, _, j, s, c = self.records[i]
        at, raw = self.offsets[i], self.raw
        return raw[at:at + j], raw[at + j:at + j + s], raw[at + j + s:at + j + s + c]

    def entry(self, i: int) -> CacheEntry:
        rec = self.records[i]
        json_text, spec, compiled = self.parts(i)
        return CacheEntry(json_text.decode("utf-8"), self.imports[rec[2]], self.groups[rec[3]], self.parse_keys[rec[1]],
                          spec, compiled)


def _pack_bytes(rows: list[tuple[bytes, CacheEntry | tuple[_Pack, int]]], stats: dict[str, StatRow]) -> bytes:
    tables: dict[str, dict[object, int]] = {"parse_keys": {}, "imports": {}, "calls": {}, "groups": {}}
    records: list[bytes] = []
    blobs: list[bytes] = []
    for key, e in rows:
        if isinstance(e, CacheEntry):
            parse_key, imports, calls = e.parse_key, e.imports, e.calls
            parts = (e.json_text.encode("utf-8"), e.spec, e.compiled)
        else:
            pack, i = e
            rec = pack.records[i]
            parse_key, imports, calls = pack.parse_keys[rec[1]], pack.imports[rec[2]], pack.groups[rec[3]]
            parts = pack.parts(i)
        group = tuple(tables["calls"].setdefault(c, len(tables["calls"])) for c in calls)
        records.append(_REC.pack(
            key, tables["parse_keys"].setdefault(parse_key, len(tables["parse_keys"])),
            tables["imports"].setdefault(imports, len(tables["imports"])),
            tables["groups"].setdefault(group, len(tables["groups"])), *(len(p) for p in parts)))
        blobs.extend(parts)
    ordered = sorted(stats.items())
    index: dict[str, object] = {name: list(table) for name, table in tables.items()}
    index.update(entries=len(records), stats=len(ordered), stat_files="\n".join(rel for rel, _ in ordered))
    head = json.dumps(index, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    body = b"".join([struct.pack("<I", len(head)), head, *records, *(_STAT.pack(*row) for _, row in ordered), *blobs])
    return _MAGIC + hashlib.sha256(body).digest() + body


class CompileCache:
    """One compile's view of the cache directory: `source_hash` and `lookup`
    per flag file, `store` what was computed, `save` once at the end."""

    def __init__(self, directory: Path, importer: Importer, settings_key: str, parse_key: str):
        self.dir = directory
        self.importer = importer
        self.settings_key = settings_key
        self.parse_key = parse_key
        self._resolved: dict[tuple[str, str], tuple[str, str] | None] = {}
        self._valid_groups: dict[tuple[Call, ...], bool] = {}
        self._prefix = hashlib.sha256(digest(_MAGIC, settings_key).encode("ascii"))
        self._packs: list[_Pack] = []  # newest first
        self._stats: dict[str, StatRow] = {}
        self._load()
        # rel -> (key, new entry or where it is)
        self._used: dict[str, tuple[bytes, CacheEntry | tuple[_Pack, int]]] = {}
        # rows to keep: this compile's flag files, hashed long enough after a change
        self._seen: dict[str, StatRow] = {}

    def _load(self) -> None:
        try:
            found = [(e.stat().st_mtime_ns, e.name) for e in os.scandir(self.dir / "packs") if e.name.endswith(".pack")]
        except OSError:
            return
        for _, name in sorted(found, reverse=True)[:_PACKS]:
            pack = _Pack.read(self.dir / "packs" / name)
            if pack is not None:
                self._packs.append(pack)
            else:  # packs are renamed into place whole: this one is damaged
                with contextlib.suppress(OSError):
                    os.unlink(self.dir / "packs" / name)
        for pack in reversed(self._packs):
            self._stats.update(pack.stats)

    def source_hash(self, rel: str, path: str) -> bytes | None:
        """The sha256 of flag file `rel` at `path`: as recorded, while its
        size, times and inode are those recorded, else read and hashed."""
        try:
            st = os.stat(path)
        except OSError:
            return None
        now = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
        row = self._stats.get(rel)
        if row is not None and row[:4] == now:
            self._seen[rel] = row
            return row[5]
        at = time.time_ns()
        try:
            with open(path, "rb") as f:
                sha = hashlib.sha256(f.read()).digest()
            st = os.stat(path)
        except OSError:
            return None
        # Racily clean: changed so shortly before it was read that another
        # change could keep the same times. Not recorded; read next time.
        if (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino) == now and max(now[1], now[2]) + _RACY_NS < at:
            self._seen[rel] = (*now, at, sha)
        return sha

    def _key(self, rel: str, source_hash: bytes) -> bytes:
        h = self._prefix.copy()
        h.update(rel.encode("utf-8") + b"\0" + source_hash)
        return h.digest()

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

    def _valid(self, calls: tuple[Call, ...]) -> bool:
        ok = self._valid_groups.get(calls)
        if ok is None:
            ok = self._valid_groups[calls] = all(
                self._resolve(base, rel) == (found, sha) for base, rel, found, sha in calls)
        return ok

    def lookup(self, rel: str, source_hash: bytes) -> CacheEntry | None:
        """The newest outcome for this file version whose imports all still
        resolve to the same bytes."""
        key = self._key(rel, source_hash)
        for pack in self._packs:
            i = pack.keys.get(key)
            if i is not None and self._valid(pack.calls(i)):
                self._used[rel] = (key, (pack, i))
                return pack.entry(i)
        return None

    def store(self, rel: str, source_hash: bytes, entry: CacheEntry) -> None:
        """Keep `entry` for this file version (written by `save`)."""
        self._used[rel] = (self._key(rel, source_hash), entry)

    def _touch_used(self) -> None:
        """Packs age by last use, not by when they were written: a PR's base
        and head compiles take turns writing small packs, and a pack aged by
        its write time fell out of the newest `_PACKS` while still in use, so
        every other warm run evaluated all its flags again."""
        used = {v[1][0].name for v in self._used.values() if not isinstance(v[1], CacheEntry)}
        for name in used:
            with contextlib.suppress(OSError):
                os.utime(self.dir / "packs" / name)

    def save(self) -> None:
        """Write what this compile learnt as one pack: only the new entries
        and file records while the entries used fit in the packs read, else
        all of them (so one compile's entries never age out). Best effort: a
        cache that cannot be written only makes the next compile slower."""
        new = {rel: v for rel, v in self._used.items() if isinstance(v[1], CacheEntry)}
        changed = {rel: row for rel, row in self._seen.items() if self._stats.get(rel) != row}
        self._touch_used()
        if not new and not changed:
            return
        spread = {id(v[1][0]) for v in self._used.values() if not isinstance(v[1], CacheEntry)}
        if len(spread) < _PACKS // 2:
            data = _pack_bytes(list(new.values()), changed)
        else:
            data = _pack_bytes(list(self._used.values()), self._seen)
        packs_dir = self.dir / "packs"
        try:
            if not self.dir.exists():
                self.dir.mkdir(parents=True, exist_ok=True)
                # Never part of the repository, whatever its .gitignore says
                # (an untracked cache would make the source revision "+dirty").
                (self.dir / ".gitignore").write_text("*\n", encoding="utf-8")
            packs_dir.mkdir(exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=packs_dir, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.replace(tmp, packs_dir / f"{hashlib.sha256(data).hexdigest()[:32]}.pack")
            except BaseException:
                os.unlink(tmp)
                raise
            found = sorted(((e.stat().st_mtime_ns, e.name) for e in os.scandir(packs_dir) if e.name.endswith(".pack")),
                           reverse=True)
            for _, name in found[_PACKS:]:
                os.unlink(packs_dir / name)
        except OSError:
            pass
