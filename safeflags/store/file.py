"""The embedded backend: a local directory (development, tests, one host).

Readers take no lock: every write lands by an atomic rename, so a reader sees
the old file or the new one, never a mix. Creating a file only if absent is an
atomic `link`; compare-and-swap of a pointer runs under an exclusive `flock`
on DIR/.lock, which also serialises publishers in other processes.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import tempfile
from pathlib import Path

from safeflags.store.backend import Obj, ObjectInfo
from safeflags.store.errors import (
    NotModified,
    PreconditionFailed,
    StoreError,
    StoreNotFound,
)


def _etag(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


class FileBackend:
    def __init__(self, root: str | Path, *, create: bool = False):
        self.root = Path(root)
        self.url = "file://" + str(root)
        self._create = create

    def check(self) -> None:
        if not self.root.is_dir():
            raise StoreNotFound(f"store {self.url} does not exist (no directory {self.root})")

    def _path(self, key: str) -> Path:
        if ".." in key.split("/") or key.startswith("/"):
            raise StoreError(f"bad key {key!r}")
        return self.root / key

    def get(self, key: str, if_none_match: str | None = None) -> Obj | None:
        try:
            data = self._path(key).read_bytes()
        except FileNotFoundError:
            return None
        except IsADirectoryError:
            return None
        etag = _etag(data)
        if if_none_match is not None and if_none_match == etag:
            raise NotModified
        return Obj(data, etag)

    def put(self, key: str, data: bytes, *, if_match: str | None = None, if_absent: bool = False) -> str:
        path = self._path(key)
        if not self.root.is_dir() and not self._create:
            self.check()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._write_tmp(path, data)
        try:
            if if_absent:
                try:
                    os.link(tmp, path)  # atomic create-if-absent, no lock needed
                except FileExistsError:
                    raise PreconditionFailed(key) from None
            elif if_match is not None:
                with self._lock():
                    cur = self.get(key)
                    if cur is None or cur.etag != if_match:
                        raise PreconditionFailed(key)
                    os.replace(tmp, path)
            else:
                with self._lock():
                    os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()
        return _etag(data)

    def _write_tmp(self, path: Path, data: bytes) -> Path:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-" + path.name + ".")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        except BaseException:
            os.unlink(name)
            raise
        return Path(name)

    def _lock(self) -> _FileLock:
        return _FileLock(self.root / ".lock")

    def list(self, prefix: str) -> list[ObjectInfo]:
        base = self._path(prefix.rsplit("/", 1)[0]) if "/" in prefix else self.root
        if not base.is_dir():
            return []
        out = []
        for dirpath, _dirs, files in os.walk(base):
            for name in files:
                if name.startswith("."):
                    continue  # temp files and the lock
                full = Path(dirpath) / name
                key = full.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    try:
                        out.append(ObjectInfo(key, full.stat().st_mtime))
                    except FileNotFoundError:
                        continue
        return sorted(out, key=lambda e: e.key)

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()


class _FileLock:
    """An exclusive flock. Each use opens its own file description, so it
    excludes other threads of this process as well as other processes."""

    def __init__(self, path: Path):
        self.path = path
        self.fd = -1

    def __enter__(self) -> _FileLock:
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX)
                return self
            except OSError as exc:  # pragma: no cover - EINTR on old kernels
                if exc.errno != errno.EINTR:
                    os.close(self.fd)
                    raise

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
