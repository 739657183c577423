"""Fetching a new bundle by what changed: its manifest, then only the chunks
the served snapshot does not hold (safeflags.store.pieces wrote them).

Nothing here is trusted: the manifest names the bundle it describes and adds
up to its size, every fetched chunk must have the digest and size the
manifest gives, and the caller checks the assembled bundle's digest and
signature exactly as for a whole download. Whatever goes wrong on this path
(no manifest in an older store, a corrupt or forged one, a chunk missing or
wrong) is an `Unusable`, and the caller reads the whole bundle instead: it
costs bytes, never a fault by itself.
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from safeflags.delivery.status import Fault, store_fault
from safeflags.sdk import chunks
from safeflags.sdk.chunks import Pieces
from safeflags.sdk.kernel.errors import BundleError
from safeflags.store.backend import Backend
from safeflags.store.errors import StoreError
from safeflags.store.layout import Pointer, bundle_key, chunk_key, manifest_key

log = logging.getLogger("safeflags")

# Past this many chunks to fetch, one request for the whole bundle beats many small ones.
MAX_CHUNK_REQUESTS = 64
# Up to this size a bundle is fetched whole: one request costs about what a manifest and a chunk would.
MIN_PIECES_SIZE = 64 * 1024


class Unusable(Exception):
    """The pieces path cannot give this bundle: `kind` is the counter name."""

    def __init__(self, kind: str, message: str, fetched: int):
        super().__init__(message)
        self.kind = kind
        self.fetched = fetched  # bytes downloaded before giving up


@dataclass(frozen=True)
class Fetched:
    """A bundle as downloaded: whole (`data`) or in `pieces`, and what it cost."""

    data: bytes | None
    pieces: Pieces | None
    fetched: int  # bytes downloaded for it, the manifest and chunks included
    how: str  # "pieces" or "whole"

    @property
    def bundle(self) -> bytes | Pieces:
        return self.pieces if self.pieces is not None else self.data or b""


def fetch(backend: Backend, ptr: Pointer, have: Mapping[bytes, bytes]) -> Fetched:
    """The bundle `ptr` names, from its manifest and the chunks `have` (sha256 -> bytes) lacks.
    Raises Unusable (the caller reads the whole bundle) for every reason it cannot."""
    where = f"{backend.url}/{manifest_key(ptr.digest)}"
    try:
        obj = backend.get(manifest_key(ptr.digest))
    except StoreError as exc:
        raise Unusable("manifest_unreadable", f"{where}: {exc}", 0) from None
    if obj is None:
        raise Unusable("no_manifest", f"{backend.url} has no manifest for {ptr.digest} (an older publisher)", 0)
    fetched = len(obj.data)
    try:
        manifest = chunks.read_manifest(obj.data, ptr.digest, max_size=backend.limits.bundle)
    except BundleError as exc:
        raise Unusable("bad_manifest", f"{where}: {exc}", fetched) from None
    missing = [c for c in manifest.chunks if c.sha256 not in have]
    if len(missing) > MAX_CHUNK_REQUESTS or sum(c.size for c in missing) > manifest.size // 2:
        raise Unusable("mostly_new", f"{len(missing)} of {len(manifest.chunks)} chunks are new", fetched)
    got: dict[bytes, bytes] = {}
    for entry in missing:
        if entry.sha256 in got:
            continue
        key = chunk_key(chunks.chunk_name(entry.sha256))
        try:
            chunk = backend.get(key)
        except StoreError as exc:
            raise Unusable("chunk_unreadable", f"{backend.url}/{key}: {exc}", fetched) from None
        if chunk is None:
            raise Unusable("missing_chunk", f"{backend.url}/{key} is missing", fetched)
        fetched += len(chunk.data)
        if len(chunk.data) != entry.size or hashlib.sha256(chunk.data).digest() != entry.sha256:
            raise Unusable("bad_chunk", f"{backend.url}/{key} does not match its digest and size "
                                        f"({len(chunk.data)} bytes, {entry.size} listed)", fetched)
        got[entry.sha256] = chunk.data
    parts = tuple(got[c.sha256] if c.sha256 in got else have[c.sha256] for c in manifest.chunks)
    return Fetched(None, Pieces(bytes(manifest.head), parts, bytes(manifest.tail)), fetched, "pieces")


class Downloads:
    """Picks how each update is downloaded, and keeps what the status reports of it."""

    def __init__(self, channel: str, emit: Callable[[str, Mapping[str, object]], None]):
        self.channel = channel
        self.emit = emit
        self.how = ""  # of the last update
        self.last = self.total = 0  # bytes
        self.fallbacks: dict[str, int] = {}
        self._told: set[str] = set()

    def fetch(self, backend: Backend, ptr: Pointer, have: Mapping[bytes, bytes]) -> Fetched:
        """In pieces when the served snapshot holds chunks (`have`) and the store a manifest;
        whole otherwise, or when the pieces fail. Raises Fault only when the whole bundle does."""
        spent = 0
        # Nothing held (start-up): one request for the whole bundle beats hundreds.
        # A pointer from before sizes were recorded says 0: try the pieces.
        if have and (ptr.size == 0 or ptr.size > MIN_PIECES_SIZE):
            try:
                return fetch(backend, ptr, have)
            except Unusable as why:
                self.fell_back(why)
                spent = why.fetched
        return self.whole(backend, ptr, spent)

    def whole(self, backend: Backend, ptr: Pointer, spent: int = 0) -> Fetched:
        try:
            obj = backend.get(bundle_key(ptr.digest))
        except StoreError as exc:
            raise store_fault(exc) from None
        if obj is None:
            raise Fault("missing_bundle", f"bundle {ptr.digest} of version {ptr.version} is missing from "
                                          f"{backend.url}")
        return Fetched(obj.data, None, spent + len(obj.data), "whole")

    def fell_back(self, why: Unusable) -> None:
        """Counted, and logged once per reason: an older store says "no manifest" on every update."""
        if why.kind == "mostly_new":
            return  # a choice, not a failure: most of the bundle is new, one request is cheaper
        self.fallbacks[why.kind] = self.fallbacks.get(why.kind, 0) + 1
        if why.kind not in self._told:
            self._told.add(why.kind)
            log.info("safeflags: channel %r: fetching the whole bundle (%s): %s", self.channel, why.kind, why)
        self.emit("safeflags.delivery.fallback", {"kind": why.kind, "message": str(why)})

    def count(self, fetched: Fetched) -> None:
        self.how, self.last = fetched.how, fetched.fetched
        self.total += fetched.fetched
