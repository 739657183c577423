"""A published bundle in pieces, so a client fetches only what changed.

Beside `bundles/<digest>.pb` (always written: older clients read only that)
a publisher writes the bundle's chunks, `chunks/sha256-<hex>.pb`
(content-addressed, create-only, shared by every bundle that holds them),
and then its manifest, `manifests/<digest>.pb` (safeflags.sdk.chunks). The
order matters: a manifest is in the store only once every chunk it lists
was, so a reader that finds one finds its chunks, unless gc took a chunk
under a racing publish (gc.py), which costs that reader the whole bundle and
nothing else.

A one-flag change shares all but one or two chunks with the version the
channel serves now, so the publisher skips every chunk that version's
manifest lists instead of probing each (on S3 a probe is a request): one
that has gone missing meanwhile only sends clients to the whole bundle.
"""
from __future__ import annotations

import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor

from safeflags.sdk import chunks
from safeflags.sdk.kernel.errors import BundleError
from safeflags.store.backend import Backend
from safeflags.store.errors import PreconditionFailed, StoreError
from safeflags.store.layout import chunk_key, manifest_key
from safeflags.v1 import bundle_pb2

log = logging.getLogger("safeflags")

PARALLEL = 8  # chunk writes in flight at once


def read(backend: Backend, digest: str) -> bundle_pb2.BundleManifest | None:
    """The manifest of bundle `digest`, or None when the store has none (or only an unusable one)."""
    obj = backend.get(manifest_key(digest))
    if obj is None:
        return None
    try:
        return chunks.read_manifest(obj.data, digest, max_size=backend.limits.bundle)
    except BundleError as exc:
        log.info("safeflags: ignoring %s/%s: %s", backend.url, manifest_key(digest), exc)
        return None


def names(manifest: bundle_pb2.BundleManifest | None) -> set[str]:
    """The chunk names a manifest lists."""
    return set() if manifest is None else {chunks.chunk_name(c.sha256) for c in manifest.chunks}


def known(backend: Backend, digest: str | None) -> set[str]:
    """Chunks the store holds for bundle `digest` (a channel's current one), by its manifest; best effort."""
    if digest is None:
        return set()
    try:
        return names(read(backend, digest))
    except StoreError:
        return set()  # then every chunk is written create-only, which is only slower


def write(backend: Backend, data: bytes, digest: str, skip: set[str]) -> int:
    """Write the chunks of `data` not in `skip`, then its manifest; the number of chunks written.
    Nothing for a bundle that cannot be cut (its clients read it whole) or whose manifest is there."""
    if backend.info(manifest_key(digest)) is not None:
        return 0
    cut = chunks.manifest_of(data)
    if cut is None:
        return 0
    manifest, pieces = cut
    todo: dict[str, bytes] = {}
    for entry, chunk in zip(manifest.chunks, pieces.chunks, strict=True):
        name = chunks.chunk_name(entry.sha256)
        if name not in skip:
            todo[name] = chunk  # the same chunk twice in one bundle is written once

    def put(name: str) -> int:
        try:
            backend.put(chunk_key(name), todo[name], if_absent=True)
            return 1
        except PreconditionFailed:
            return 0  # content-addressed: the same bytes are there

    # A first publish writes every chunk (hundreds): in parallel, as each is a request to S3.
    with ThreadPoolExecutor(max_workers=min(PARALLEL, len(todo) or 1)) as pool:
        written = sum(pool.map(put, todo))
    with contextlib.suppress(PreconditionFailed):  # another publisher of the same bytes was first
        backend.put(manifest_key(digest), manifest.SerializeToString(deterministic=True), if_absent=True)
    return written
