"""Bulk answers kept per (bundle digest, context), bounded in bytes.

A bulk answer is a pure function of the bundle and the (dimension-only)
context, and a static-context provider asks again for the same one after
every publish and on every restart: keeping the serialised body answers a
repeat without evaluating. The bound is in bytes because one body is
~100 bytes per flag (2.5 MB at 25,000 flags).
"""
from __future__ import annotations

import threading
from collections import OrderedDict


class Bodies:
    """An LRU of serialised bulk bodies, at most `max_bytes` in all (0: none kept)."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.size = 0
        self._bodies: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._bodies)

    def get(self, digest: str, canonical: str) -> bytes | None:
        with self._lock:
            found = self._bodies.get((digest, canonical))
            if found is not None:
                self._bodies.move_to_end((digest, canonical))
            return found

    def put(self, digest: str, canonical: str, body: bytes) -> None:
        if len(body) > self.max_bytes // 4:  # one body never pushes out most of the others
            return
        with self._lock:
            old = self._bodies.pop((digest, canonical), None)
            if old is not None:
                self.size -= len(old)
            self._bodies[(digest, canonical)] = body
            self.size += len(body)
            while self.size > self.max_bytes:
                _, dropped = self._bodies.popitem(last=False)
                self.size -= len(dropped)

    def keep_only(self, digest: str) -> None:
        """Drop the bodies of every other bundle (the channel moved: they will not be asked for again)."""
        with self._lock:
            for key in [k for k in self._bodies if k[0] != digest]:
                self.size -= len(self._bodies.pop(key))
