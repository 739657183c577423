"""Taking in a new bundle at the cost of what changed.

A bundle arrives as pieces (safeflags.sdk.chunks): head, chunks of flag
records, tail. Against the snapshot it replaces, a chunk whose sha256 the
previous snapshot holds has the same flags byte for byte; only the other
chunks are read, and in them only the flags whose record bytes differ from
the previous bundle's record for that key are parsed. Every other flag keeps
its message and, when it was prepared, its PreparedFlag (generated function,
details cache) from the previous snapshot.

What a flag's prepared form depends on besides its own bytes:
- the header: the dimension list, the format, and the string table its
  indices point into. Any change to the dimensions or the format, or a string
  table that is not the previous one with strings appended, reuses nothing
  (the compiler sorts the table, so a string inserted mid-table rewrites the
  indices of most flags that use strings, and their chunks change anyway);
- the static context: reuse only when it is the same, value and type;
- other flags, through prerequisites: folded constants (`_local_constant`),
  inlined graphs (`_specialized`). Each snapshot indexes, by flag, the flags
  whose preparation read it (`Snapshot._readers`); every flag that read a
  changed, added or removed key, transitively, is prepared again (eagerly
  when it was prepared before);
- the snapshot itself, at run time: generated code calls back through a weak
  reference to its snapshot (`snapshot.prerequisite_check`), so it never keeps
  a snapshot alive; a function whose snapshot is gone raises SnapshotRetired,
  and the evaluator's fallback resolves the call against the snapshot it now
  serves. A reused function that binds the previous snapshot's helper is
  re-bound to the new one on first use (`Snapshot.entry`: a copy of the
  function with those defaults replaced, a few microseconds; `Snapshot._bound`
  records where they sit); an interpreted fallback is prepared again. So a
  reused entry never reaches the previous snapshot.

Preparation runs on the caller's thread (the delivery thread); the swap is the
one assignment in Evaluator.swap. What holds the GIL without a switch is one C
call over one dict, one hash or one small parse (a few ms at 250,000 flags).

Memory: a changed flag is parsed as a message of its own (its own upb arena),
never as part of its chunk, so a flag kept from an old version keeps only that
flag's parse alive; the first version's whole-bundle parse stays alive while
any of its flags is served, as it did before.
"""
from __future__ import annotations

import hashlib
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from safeflags.sdk import chunks
from safeflags.sdk.chunks import Pieces
from safeflags.sdk.inputs import parse_digest, read_static
from safeflags.sdk.kernel.errors import BundleError
from safeflags.v1 import bundle_pb2

Snapshot = Any
"""safeflags.sdk.snapshot.Snapshot, which builds on this module (so this one cannot import it)."""


def from_pieces(cls: type[Snapshot], pieces: Pieces, static: Mapping[str, object] | None, digest: str,
                previous: Snapshot | None) -> Snapshot:
    """Snapshot.from_pieces: verify the assembled digest, then build with reuse."""
    if not isinstance(pieces, Pieces):
        raise BundleError(f"from_pieces takes Pieces, not {type(pieces).__name__}")
    actual = pieces.digest()
    if parse_digest(digest) != actual.removeprefix("sha256-"):
        raise BundleError(f"assembled bundle digest mismatch: expected {digest}, got {actual}")
    _header(pieces)
    usable = previous if previous is not None and previous.pieces is not None and previous.ready else None
    try:
        shas, bounds = _bounds(pieces, usable)
    except ValueError as exc:  # UnicodeDecodeError among them
        raise BundleError(f"bundle chunk is not a run of flags: {exc}") from None
    if usable is None:  # every chunk was read: as strict as an update, then parsed whole
        _check_order(bounds)
        snapshot = _fresh(cls, pieces, static, actual, previous)
        snapshot.pieces, snapshot._chunk_shas = pieces, shas  # the pieces as given: the next diff is against them
        snapshot._chunk_bounds = dict(zip(shas, bounds, strict=True))
        return snapshot
    return build(cls, chunks.Cut(pieces, bounds), static, actual, usable, shas=shas)


def build(cls: type[Snapshot], cut: chunks.Cut, static: Mapping[str, object] | None, digest: str,
          previous: Snapshot, *, shas: tuple[bytes, ...] | None = None) -> Snapshot:
    """A snapshot of the (already verified) bundle `cut` holds, reusing `previous`;
    `shas`: each chunk's sha256, when the caller has them."""
    pieces = cut.pieces
    if previous.pieces is None or not previous.ready:
        return _fresh(cls, pieces, static, digest, previous)
    header = _header(pieces)
    read = read_static(static)
    if not _compatible(previous, header, read[0]):
        return _fresh(cls, pieces, static, digest, previous)
    try:
        if shas is None:
            shas = _shas(cut.pieces, previous)
        return _reuse(cls, cut, shas, header, read, digest, previous)
    except BundleError:
        raise
    except Exception as exc:  # the contract is BundleError only
        raise BundleError(f"bundle cannot be indexed: {type(exc).__name__}: {str(exc)[:200]}") from None


def _fresh(cls: type[Snapshot], pieces: Pieces, static: Mapping[str, object] | None, digest: str,
           previous: Snapshot | None) -> Snapshot:
    """Nothing reusable: parse it all, and prepare now what `previous` had prepared."""
    snapshot = cls.from_bytes(pieces.join(), static=static, digest=digest)
    if previous is not None and previous._entries:
        snapshot.warm([k for k in previous._entries if k in snapshot.flags])
    return snapshot


def _header(pieces: Pieces) -> bundle_pb2.Bundle:
    """Format, revisions, dimensions and strings: head and tail parsed as one Bundle."""
    try:
        header = bundle_pb2.Bundle.FromString(pieces.head + pieces.tail)
    except Exception as exc:  # DecodeError and whatever the runtime raises on hostile bytes
        raise BundleError(f"corrupt bundle head or tail: {type(exc).__name__}") from None
    if header.format_version == 0:
        raise BundleError("not a safeflags bundle (no format version): empty or truncated")
    if len(header.flags):
        raise BundleError("bundle head or tail holds flags: corrupt pieces")
    return header


def _compatible(previous: Snapshot, header: bundle_pb2.Bundle, static: Mapping[str, object]) -> bool:
    """Whether flags prepared in `previous` mean the same under `header` and `static`."""
    if header.format_version != previous.format_version or list(header.dimensions) != previous.dimensions:
        return False
    old, new = previous.env.strings, header.strings
    if len(new) < len(old) or list(new[:len(old)]) != list(old):
        return False
    before = previous.static_context
    if before.keys() != static.keys():
        return False
    try:
        return all(type(v) is type(before[k]) and bool(v == before[k]) for k, v in static.items())
    except Exception:  # a value whose == raises: no reuse, never an error
        return False


def _shas(pieces: Pieces, previous: Snapshot | None) -> tuple[bytes, ...]:
    """Each chunk's sha256; a chunk that is the very object `previous` holds is not hashed again."""
    held = previous.pieces.chunks if previous is not None and previous.pieces is not None else ()
    known = {id(c): sha for c, sha in zip(held, previous._chunk_shas if previous else (), strict=True)}
    return tuple(known.get(id(c)) or hashlib.sha256(c).digest() for c in pieces.chunks)


def _bounds(pieces: Pieces, previous: Snapshot | None) -> tuple[tuple[bytes, ...], tuple[tuple[str, str] | None, ...]]:
    """Each chunk's sha256 and key range: the previous snapshot's for chunks it holds, else read
    (ValueError when a chunk is not a run of flag records in key order)."""
    shas = _shas(pieces, previous)
    known = previous._chunk_bounds if previous is not None else {}
    bounds = tuple(known[sha] if sha in known else chunks.key_range(c) for sha, c in zip(shas, pieces.chunks,
                                                                                          strict=True))
    return shas, bounds


def _reuse(cls: type[Snapshot], cut: chunks.Cut, shas: tuple[bytes, ...], header: bundle_pb2.Bundle,
           read: tuple[dict[str, object], list[str]], digest: str, previous: Snapshot) -> Snapshot:
    pieces = cut.pieces
    old_chunks = dict(zip(previous._chunk_shas, previous.pieces.chunks if previous.pieces else (), strict=True))
    bounds = list(cut.bounds)
    kept = set(shas)
    before: dict[bytes, memoryview] = {}
    for sha, chunk in old_chunks.items():
        if sha not in kept:
            before.update(chunks.flag_records(chunk))
    flags = dict(previous.flags)
    changed: set[str] = set()
    added = False
    for i, (sha, chunk) in enumerate(zip(shas, pieces.chunks, strict=True)):
        if sha in old_chunks:
            continue  # held by `previous`: in key order, and its range known
        try:
            records = list(chunks.flag_records(chunk))
        except ValueError as exc:
            raise BundleError(f"bundle chunk {chunks.chunk_name(sha)} is not a run of flags: {exc}") from None
        keys = [raw.decode("utf-8") for raw, _ in records]
        if any(a >= b for a, b in itertools.pairwise(keys)):
            raise BundleError(f"flags not sorted by key or duplicated in {chunks.chunk_name(sha)}: corrupt bundle")
        bounds[i] = (keys[0], keys[-1]) if keys else None
        for key, (raw, record) in zip(keys, records, strict=True):
            old = before.pop(raw, None)
            if old is not None and old == record and key in previous.flags:
                continue
            flags[key] = _parse(record, key)
            changed.add(key)
            added = added or old is None
    for raw in before:  # in a chunk that is gone, and in none that came
        key = raw.decode("utf-8")
        flags.pop(key, None)
        changed.add(key)
    _check_order(bounds)
    if added:  # keep the bundle's order, as a fresh parse has it
        flags = {k: flags[k] for k in sorted(flags)}
    snapshot = object.__new__(cls)
    snapshot._setup(header, flags, None, digest, True, read=read)
    snapshot.pieces = pieces
    snapshot._chunk_shas = shas
    snapshot._chunk_bounds = dict(zip(shas, bounds, strict=True))
    _carry(snapshot, previous, changed)
    return snapshot


def _check_order(bounds: Sequence[tuple[str, str] | None]) -> None:
    """Keys strictly increasing across chunks (each chunk is in order within itself)."""
    last: str | None = None
    for bound in bounds:
        if bound is None:
            continue
        if last is not None and bound[0] <= last:
            raise BundleError(f"flags not sorted by key or duplicated at {bound[0][:80]!r}: corrupt bundle")
        last = bound[1]


def _parse(record: memoryview, key: str) -> bundle_pb2.CompiledFlag:
    """One flag record (tag, length, CompiledFlag) as a message of its own: its own
    arena, so keeping it never keeps a whole chunk's parse alive."""
    tag_end = 1
    while record[tag_end - 1] & 0x80:
        tag_end += 1
    pos = tag_end
    while record[pos] & 0x80:
        pos += 1
    try:
        flag = bundle_pb2.CompiledFlag.FromString(bytes(record[pos + 1:]))
    except Exception as exc:
        raise BundleError(f"corrupt flag record {key[:80]!r}: {type(exc).__name__}") from None
    if flag.key != key:
        raise BundleError(f"flag record {key[:80]!r} names itself {flag.key[:80]!r}: corrupt bundle")
    return flag


def _dependents(readers: dict[str, frozenset[str]], changed: set[str]) -> set[str]:
    """`changed` and every key whose preparation read one of them (`readers`), transitively."""
    out = set(changed)
    pending = list(changed)
    while pending:
        for reader in readers.get(pending.pop(), ()):
            if reader not in out:
                out.add(reader)
                pending.append(reader)
    return out


def _carry(snapshot: Snapshot, previous: Snapshot, changed: set[str]) -> None:
    """Copy `previous`'s memos into `snapshot` but for the keys `changed` makes stale; leave
    what calls back into `previous` to be re-bound on first use; prepare now the stale keys
    `previous` had prepared.

    Request threads may still prepare flags in `previous` meanwhile. Each copy is one C
    call, and the copies are taken in the reverse of the order `Snapshot.entry` writes
    (reads and binding marks, then the entry, then the fast dicts): whatever a copy holds,
    the copies taken after it hold what it depends on."""
    fast = {t: dict(d) for t, d in previous.fast.items()}
    entries = dict(previous._entries)
    outcome_fns = dict(previous._outcome_fns)
    unbound = dict(previous._unbound)
    specs = dict(previous._specs)
    local = dict(previous._local)
    bound = dict(previous._bound)
    bound_details = set(previous._bound_details)
    readers = dict(previous._readers)
    broken = set(previous._broken)
    stale = _dependents(readers, changed)
    redo: list[str] = [k for k in stale if (k in entries or k in unbound) and k in snapshot.flags]
    for key in stale:
        entry = entries.pop(key, None)
        if entry is not None:
            fast[entry.type].pop(key, None)
        unbound.pop(key, None)
        specs.pop(key, None)
        local.pop(key, None)
    for key, plan in bound.items():
        entry = entries.pop(key, None)
        if entry is None:
            continue
        fast[entry.type].pop(key, None)
        if plan is None or entry.fast is None:  # an interpreted fallback closes over its snapshot
            redo.append(key)
        else:
            unbound[key] = (entry, plan)
    for key in stale | bound.keys() | bound_details:
        outcome_fns.pop(key, None)
    snapshot._entries = entries
    snapshot._adopt_fast(fast)
    snapshot._outcome_fns = outcome_fns
    snapshot._unbound = unbound
    snapshot._broken = broken - stale
    snapshot._local = local
    snapshot._specs = specs
    # A stale reader stays listed under what it read: at worst a flag is prepared again for nothing.
    snapshot._readers = readers
    for key in redo:
        snapshot.entry(key)
