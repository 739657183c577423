"""The embedded backend: a local directory (development, tests, one host).

Readers take no lock: every write lands by an atomic rename, so a reader sees
the old file or the new one, never a mix. Creating a file only if absent is an
atomic `link`; compare-and-swap of a pointer runs under an exclusive `flock`
on DIR/.lock, which also serialises publishers in other processes.

Only regular files are objects. A directory, FIFO, device or socket where one
should be is a NotRegularFile error, never a hang: files are opened with
O_NONBLOCK and checked with fstat before a byte is read, and no read goes
past the backend's limits. Missing permissions are AccessDenied.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from safeflags.store.backend import Keys, Limits, Obj, ObjectInfo
from safeflags.store.errors import (
    AccessDenied,
    NotModified,
    NotRegularFile,
    ObjectTooLarge,
    PreconditionFailed,
    StoreError,
    StoreNotFound,
)

TEMP_PREFIX = ".tmp-"  # what a write leaves behind if it is killed before its rename
_CHUNK = 1 << 20


def _etag(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a device"),
                       (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def read_regular(path: str | os.PathLike[str], limit: int, where: str | None = None,
                 option: str = "the") -> bytes | None:
    """The bytes of the regular file at `path` (None when absent), at most `limit` of them.

    Never blocks on a FIFO or a device and never reads an endless one:
    NotRegularFile for anything but a regular file, ObjectTooLarge past
    `limit` (whether the size says so up front or the file grows while read),
    AccessDenied without permission. `option` names the limit in the error."""
    where = where or str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except PermissionError as exc:
        raise _denied(where, exc) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile(f"{where} is {_kind(st.st_mode)}, not a regular file: remove it")
        if st.st_size > limit:
            raise ObjectTooLarge(f"{where} is larger than {limit:,} bytes ({st.st_size:,} bytes), "
                                 f"{option} limit: refused unread")
        chunks: list[bytes] = []
        total = 0
        # At most limit + 1 bytes in all: one more than allowed proves a file that grew.
        for _ in range(limit + 2):  # each read but the last returns at least a byte
            chunk = os.read(fd, min(_CHUNK, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise ObjectTooLarge(f"{where} is larger than {limit:,} bytes, {option} limit: refused")
        return b"".join(chunks)
    except PermissionError as exc:
        raise _denied(where, exc) from None
    finally:
        os.close(fd)


def _denied(where: str, exc: OSError) -> AccessDenied:
    return AccessDenied(f"permission denied: {exc.filename or where}: check the owner and mode of the store "
                        "directory and its files")


@contextlib.contextmanager
def _permissions(where: str) -> Iterator[None]:
    """Missing permissions as AccessDenied, whatever call met them."""
    try:
        yield
    except PermissionError as exc:
        raise _denied(where, exc) from None


class FileBackend:
    def __init__(self, root: str | Path, *, create: bool = False, limits: Limits | None = None):
        self.root = Path(root)
        self.url = "file://" + str(root)
        self.limits = limits or Limits()
        self._create = create

    def check(self) -> None:
        with _permissions(str(self.root)):
            if not self.root.is_dir():
                raise StoreNotFound(f"store {self.url} does not exist (no directory {self.root})")

    def _path(self, key: str) -> Path:
        if ".." in key.split("/") or key.startswith("/"):
            raise StoreError(f"bad key {key!r}")
        return self.root / key

    def get(self, key: str, if_none_match: str | None = None) -> Obj | None:
        data = read_regular(self._path(key), self.limits.of(key), f"{self.url}/{key}",
                            "the " + self.limits.option(key))
        if data is None:
            return None
        etag = _etag(data)
        if if_none_match is not None and if_none_match == etag:
            raise NotModified
        return Obj(data, etag)

    def info(self, key: str) -> ObjectInfo | None:
        try:
            st = os.stat(self._path(key))
        except (FileNotFoundError, NotADirectoryError):
            return None
        except PermissionError as exc:
            raise _denied(f"{self.url}/{key}", exc) from None
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile(f"{self.url}/{key} is {_kind(st.st_mode)}, not a regular file: remove it")
        return ObjectInfo(key, st.st_mtime)

    def put(self, key: str, data: bytes, *, if_match: str | None = None, if_absent: bool = False) -> str:
        path = self._path(key)
        with _permissions(f"{self.url}/{key}"):
            if not self.root.is_dir() and not self._create:
                self.check()
            path.parent.mkdir(parents=True, exist_ok=True)
            self.info(key)  # a directory or FIFO in the way is an error, not a lost race retried forever
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
            except IsADirectoryError:
                raise NotRegularFile(f"{self.url}/{key} is a directory, not a regular file: remove it") from None
            finally:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
        return _etag(data)

    def _write_tmp(self, path: Path, data: bytes) -> Path:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=TEMP_PREFIX + path.name + ".")
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

    def _walk(self, base: Path) -> Iterator[tuple[str, list[str], list[str]]]:
        def fail(exc: OSError) -> None:
            # A folder that cannot be read must not look empty: gc would take
            # the bundles of the channels it hides.
            if isinstance(exc, PermissionError):
                raise _denied(str(base), exc)
            if exc.errno not in (errno.ENOENT, errno.ENOTDIR):
                raise StoreError(f"cannot list {base}: {exc}")

        yield from os.walk(base, onerror=fail)

    def list(self, prefix: str) -> list[ObjectInfo]:
        base = self._path(prefix.rsplit("/", 1)[0]) if "/" in prefix else self.root
        with _permissions(str(base)):
            if not base.is_dir():
                return []
        out = []
        for dirpath, _dirs, files in self._walk(base):
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
                    except PermissionError as exc:
                        raise _denied(str(full), exc) from None
        return sorted(out, key=lambda e: e.key)

    def delete(self, key: str) -> None:
        with _permissions(f"{self.url}/{key}"):
            try:
                self._path(key).unlink()
            except FileNotFoundError:
                pass
            except IsADirectoryError:
                raise NotRegularFile(f"{self.url}/{key} is a directory, not a regular file: remove it") from None

    def sweep(self, older_than: float, now: float) -> Keys:
        """Temporary files of writes killed before their rename, older than `older_than` seconds."""
        removed = []
        with _permissions(str(self.root)):
            if not self.root.is_dir():
                return []
            for dirpath, _dirs, files in self._walk(self.root):
                for name in files:
                    if not name.startswith(TEMP_PREFIX):
                        continue
                    full = Path(dirpath) / name
                    try:
                        st = full.lstat()
                        if stat.S_ISREG(st.st_mode) and now - st.st_mtime >= older_than:
                            full.unlink()
                            removed.append(full.relative_to(self.root).as_posix())
                    except FileNotFoundError:
                        continue  # its write finished (renamed) or another sweep took it
        return sorted(removed)


class _FileLock:
    """An exclusive flock. Each use opens its own file description, so it
    excludes other threads of this process as well as other processes.
    (Python retries a flock interrupted by a signal itself: PEP 475.)"""

    def __init__(self, path: Path):
        self.path = path
        self.fd = -1

    def __enter__(self) -> _FileLock:
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
        except IsADirectoryError:
            raise NotRegularFile(f"{self.path} is a directory, not the store's lock file: remove it") from None
        try:
            mode = os.fstat(self.fd).st_mode
            if not stat.S_ISREG(mode):
                raise NotRegularFile(f"{self.path} is {_kind(mode)}, not the store's lock file: remove it")
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(self.fd)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
