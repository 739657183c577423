"""A bundle in pieces: the head, runs of flag records ("chunks"), the tail.

A deterministic bundle serialises its fields in number order, so its flags
(field 5, sorted by key) are one contiguous run of records between the
fields before them (format, revisions, dimensions) and the string table
after them. Cutting that run into chunks gives

    bundle == head + chunks[0] + ... + chunks[-1] + tail

byte for byte, and each chunk is itself a valid serialised Bundle that holds
only flags. Where a chunk ends depends on the flags' keys, not on their
positions: a chunk closes after a flag whose key hashes to 0 modulo
BOUNDARY_MODULUS (about 64 flags), or once it holds MAX_CHUNK_BYTES. Changing,
adding or removing one flag therefore changes one chunk (two when the flag is
itself a boundary), and every other chunk keeps its bytes and its digest: a
store keeps chunks content-addressed, and a client that holds the previous
version fetches only the new ones (safeflags.store.layout, docs/store.md).

The manifest (BundleManifest in bundle.proto) lists the chunks' digests and
carries head and tail inline. A reader never trusts it: every chunk is
checked against its digest, and the assembled bundle against the channel's
digest and signature exactly as a whole download is.
"""
from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import mmh3

from safeflags.sdk.kernel.errors import BundleError
from safeflags.v1 import bundle_pb2

MANIFEST_FORMAT = 1
BOUNDARY_MODULUS = 64
MAX_CHUNK_BYTES = 32 * 1024
_SEED = 0x5AFE
_FLAGS_FIELD = 5
_FLAG_TAG = (_FLAGS_FIELD << 3) | 2


@dataclass(frozen=True, slots=True)
class Pieces:
    """A bundle cut into pieces; `b"".join((head, *chunks, tail))` is the bundle."""

    head: bytes
    chunks: tuple[bytes, ...]
    tail: bytes

    def join(self) -> bytes:
        return b"".join((self.head, *self.chunks, self.tail))

    def digest(self) -> str:
        """"sha256-<hex>" of the assembled bundle, without assembling it."""
        return pieces_digest(self.head, self.chunks, self.tail)


def pieces_digest(head: bytes, chunks: Sequence[bytes], tail: bytes) -> str:
    h = hashlib.sha256(head)
    for chunk in chunks:
        h.update(chunk)
    h.update(tail)
    return "sha256-" + h.hexdigest()


def read_varint(data: bytes | memoryview, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise ValueError("truncated varint")
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def fields(data: bytes | memoryview, start: int = 0,
           end: int | None = None) -> Iterator[tuple[int, int, int, int, int]]:
    """(field number, wire type, record start, payload start, record end) of each top-level
    field of serialised protobuf bytes; ValueError on bad wire format."""
    end = len(data) if end is None else end
    pos = start
    while pos < end:
        first = pos
        tag, pos = read_varint(data, pos, end)
        field, wire = tag >> 3, tag & 7
        payload = pos
        if wire == 0:
            _, pos = read_varint(data, pos, end)
        elif wire == 2:
            size, payload = read_varint(data, pos, end)
            pos = payload + size
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise ValueError(f"wire type {wire} at byte {first}")
        if pos > end or field == 0:
            raise ValueError(f"record at byte {first} runs past the end")
        yield field, wire, first, payload, pos


def _records(data: bytes | memoryview, start: int = 0, end: int | None = None) -> Iterator[tuple[int, int, int]]:
    """(field, record start, record end) of each top-level field; ValueError on bad wire format."""
    for field, _, first, _, last in fields(data, start, end):
        yield field, first, last


def flag_key(record: bytes | memoryview) -> bytes:
    """The key (UTF-8) of one `flags` record (tag, length, CompiledFlag)."""
    _, pos = read_varint(record, 0, len(record))
    size, pos = read_varint(record, pos, len(record))
    for field, first, last in _records(record, pos, pos + size):
        if field == 1:  # CompiledFlag.key
            klen, kpos = read_varint(record, first + 1, last)
            return bytes(record[kpos:kpos + klen])
    return b""


def flag_records(chunk: bytes) -> Iterator[tuple[bytes, memoryview]]:
    """(key, record bytes) of each flag in a chunk, in order."""
    view = memoryview(chunk)
    for field, first, last in _records(view):
        if field != _FLAGS_FIELD:
            raise ValueError(f"a chunk holds only flag records, not field {field}")
        record = view[first:last]
        yield flag_key(record), record


def is_boundary(key: bytes) -> bool:
    return mmh3.hash(key, _SEED, signed=False) % BOUNDARY_MODULUS == 0


@dataclass(frozen=True, slots=True)
class Cut:
    """A bundle's pieces and, per chunk, its first and last flag key (None for a chunk without flags)."""

    pieces: Pieces
    bounds: tuple[tuple[str, str] | None, ...]


def split(data: bytes) -> Pieces | None:
    """Cut bundle bytes into pieces; None when its flags are not one contiguous
    run (a bundle serialised by something else), so it cannot be chunked."""
    return _cut(data, None)


def cut(data: bytes) -> Cut | None:
    """`split`, with each chunk's key range; None also when a key is not UTF-8."""
    bounds: list[tuple[str, str] | None] = []
    try:
        found = _cut(data, bounds)
    except UnicodeDecodeError:
        return None
    return None if found is None else Cut(found, tuple(bounds))


def key_range(chunk: bytes) -> tuple[str, str] | None:
    """First and last key of a chunk (None when it holds no flags); ValueError when it is
    not a run of flag records with UTF-8 keys in strictly increasing order."""
    first = last = None
    for raw, _ in flag_records(chunk):
        key = raw.decode("utf-8")
        if last is not None and key <= last:
            raise ValueError(f"flags not sorted by key or duplicated at {key[:80]!r}")
        first = key if first is None else first
        last = key
    return None if first is None or last is None else (first, last)


def _cut(data: bytes, bounds: list[tuple[str, str] | None] | None) -> Pieces | None:
    try:
        records = list(_records(data))
    except ValueError:
        return None
    spans = [(first, last) for field, first, last in records if field == _FLAGS_FIELD]
    if not spans:
        return Pieces(data, (), b"")
    start, stop = spans[0][0], spans[-1][1]
    if any(a[1] != b[0] for a, b in itertools.pairwise(spans)):
        return None
    view = memoryview(data)
    chunks: list[bytes] = []
    chunk_start = start
    low = b""
    for i, (first, last) in enumerate(spans):
        key = flag_key(view[first:last])
        if first == chunk_start:
            low = key
        if last - chunk_start >= MAX_CHUNK_BYTES or is_boundary(key) or i == len(spans) - 1:
            chunks.append(data[chunk_start:last])
            chunk_start = last
            if bounds is not None:
                bounds.append((low.decode("utf-8"), key.decode("utf-8")))
    return Pieces(data[:start], tuple(chunks), data[stop:])


def manifest_of(data: bytes) -> tuple[bundle_pb2.BundleManifest, Pieces] | None:
    """The manifest of bundle bytes and its pieces; None when it cannot be chunked."""
    pieces = split(data)
    if pieces is None:
        return None
    manifest = bundle_pb2.BundleManifest(
        format=MANIFEST_FORMAT, digest="sha256-" + hashlib.sha256(data).hexdigest(), size=len(data),
        head=pieces.head, tail=pieces.tail)
    for chunk in pieces.chunks:
        manifest.chunks.add(sha256=hashlib.sha256(chunk).digest(), size=len(chunk),
                            flags=sum(1 for _ in _records(chunk)))
    return manifest, pieces


def read_manifest(data: bytes, digest: str, *, max_size: int) -> bundle_pb2.BundleManifest:
    """Parse and sanity-check a manifest for the bundle `digest`; BundleError when it is not usable."""
    try:
        manifest = bundle_pb2.BundleManifest.FromString(bytes(data))
    except Exception as exc:  # DecodeError and whatever the runtime raises on hostile bytes
        raise BundleError(f"corrupt manifest ({len(data)} bytes): {type(exc).__name__}") from None
    if manifest.format != MANIFEST_FORMAT:
        raise BundleError(f"manifest format {manifest.format} is not {MANIFEST_FORMAT}: reading the whole bundle")
    if manifest.digest != digest:
        raise BundleError(f"manifest is for bundle {manifest.digest[:80]!r}, not {digest}")
    total = len(manifest.head) + len(manifest.tail) + sum(c.size for c in manifest.chunks)
    if total != manifest.size or manifest.size > max_size:
        raise BundleError(f"manifest sizes do not add up ({total} != {manifest.size}) or exceed {max_size} bytes")
    if any(len(c.sha256) != 32 for c in manifest.chunks):
        raise BundleError("manifest chunk digest is not 32 bytes")
    return manifest


def chunk_name(sha256: bytes) -> str:
    """A chunk's digest as the store spells digests: "sha256-<hex>"."""
    return "sha256-" + sha256.hex()
