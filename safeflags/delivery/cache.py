"""The local cache of the last good bundle, for starting while the store is
down. One pair of files per (store, channel): `<channel>-<store hash>.pb` and
`.json` (the pointer it was served under, and when it was fetched). Both are
written by atomic rename, the bundle first, so a reader never pairs new
metadata with old bytes; the digest is checked again on every read anyway.
A bundle fetched in pieces is written piece by piece: the file is the
assembled bundle, without a second copy of it in memory.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

from safeflags.sdk.chunks import Pieces
from safeflags.store.layout import Pointer

log = logging.getLogger("safeflags")


class BundleCache:
    def __init__(self, directory: str | os.PathLike[str], store_url: str, channel: str):
        self.dir = Path(directory)
        tag = hashlib.sha256(store_url.encode()).hexdigest()[:12]
        self.bundle_path = self.dir / f"{channel}-{tag}.pb"
        self.meta_path = self.dir / f"{channel}-{tag}.json"
        self.store_url = store_url

    def save(self, pointer: Pointer, data: bytes | Pieces) -> None:
        """Best effort: a full disk must not stop a service from serving."""
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            meta = {"store": self.store_url, "fetched_at": time.time(), "pointer": asdict(pointer)}
            parts = (data.head, *data.chunks, data.tail) if isinstance(data, Pieces) else (data,)
            _atomic_write(self.bundle_path, parts)
            _atomic_write(self.meta_path, (json.dumps(meta, sort_keys=True).encode(),))
        except OSError as exc:
            log.warning("safeflags: cannot write the bundle cache in %s: %s", self.dir, exc)

    def load(self) -> tuple[Pointer, bytes, float] | None:
        """(pointer, bytes, fetched_at), or None when there is no usable entry."""
        try:
            meta = json.loads(self.meta_path.read_bytes())
            data = self.bundle_path.read_bytes()
            pointer = Pointer.from_json(json.dumps(meta["pointer"]).encode(), str(self.meta_path))
            return pointer, data, float(meta["fetched_at"])
        except FileNotFoundError:
            return None
        except Exception as exc:  # a broken cache is only a missed fallback
            log.warning("safeflags: ignoring the bundle cache %s: %s", self.meta_path, exc)
            return None


def _atomic_write(path: Path, parts: Iterable[bytes]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-" + path.name)
    try:
        with os.fdopen(fd, "wb") as fh:
            for part in parts:
                fh.write(part)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
