"""Garbage collection of bundles, safe against writers racing it.

What gc keeps: every bundle a pointer names (pinned or not), the last
`keep` applied versions of every channel, every claim not decided yet (a
publish in flight), every bundle a writer has announced it is about to point
at (an *intent*), and any bundle younger than `min_age`.

The race to close: gc decides a bundle is unneeded, then a pin, rollback or
publish points a channel at it, then gc deletes it. No store offers "delete
unless referenced", so gc and the writers each raise a flag, then look at
the other's (as in Dekker's mutual exclusion; every store here reads its own
writes and lists them, strongly consistent):

* gc writes the digests it is about to delete into `gc/state.json`
  (*condemns* them), then reads every intent, claim and pointer again (in
  that order: a writer removes its intent only once its pointer has moved),
  and deletes only what is still unneeded;
* a writer first writes its flag (a publish its claim, a pin or rollback an
  intent under `intents/`), then reads `gc/state.json`: if its bundle is
  condemned it waits until gc is done with it (at most `GC_HOLD` seconds),
  and then checks that the bundle still exists before its pointer moves (a
  publish puts back bytes gc took; a pin of a collected version fails).

Whatever the interleaving, one of the two sees the other's flag, so no
pointer ever names a deleted bundle.

A bundle's manifest goes with it (first, so there is never a manifest
without its bundle), and then every chunk older than `min_age` that no
remaining manifest lists. Chunks take no part in the protocol above: a chunk
taken under a racing publish (one that found it present, so did not write
it, and had not written its manifest yet when gc listed them) costs the
clients of that version the whole bundle, never a wrong or missing flag,
since every chunk and the assembled bundle are checked against their digests. gc never deletes a bundle more than
GC_HOLD seconds after condemning it, which bounds how long a writer waits
for a gc that died. `gc/state.json` is also the lock that keeps two gc runs
apart; one left by a gc that died is taken over once stale.
"""
from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from safeflags.store import pieces
from safeflags.store.backend import Backend
from safeflags.store.claims import Claims, top
from safeflags.store.errors import PreconditionFailed, StoreError
from safeflags.store.layout import Pointer, Record, bundle_key, digest_from_key, manifest_key, utc_now

log = logging.getLogger("safeflags")

STATE_KEY = "gc/state.json"
GC_HOLD = 60.0  # seconds a writer waits for gc to finish with its bundle; gc deletes nothing later
TEMP_AGE = 3600.0  # temporary files and intents older than this are leftovers of killed writers
BATCH = 200  # bundles condemned at once: keeps the state small and each batch well inside GC_HOLD
_POLL = 0.05


class Store(Protocol):
    """What gc reads of a BundleStore (store.py imports this module, not the other way round)."""

    backend: Backend
    url: str
    gc_hold: float
    claims: Claims

    def channels(self) -> list[str]: ...

    def read_pointer(self, channel: str) -> tuple[Pointer | None, str | None]: ...

    def record(self, channel: str, version: int) -> Record | None: ...


@dataclass
class GcReport:
    kept: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    swept: list[str] = field(default_factory=list)  # temporary files and stale intents removed
    chunks: list[str] = field(default_factory=list)  # chunks no remaining manifest lists ("sha256-<hex>")


def collect(store: Store, keep: int, *, min_age: float, dry_run: bool, now: float | None,
            temp_age: float = TEMP_AGE) -> GcReport:
    if keep < 1:
        raise StoreError("--keep must be at least 1")
    now = time.time() if now is None else now
    backend = store.backend
    report = GcReport()
    wanted = _wanted(store, keep, now, temp_age)
    doomed = []
    for entry in backend.list("bundles/"):
        digest = digest_from_key(entry.key)
        if digest is None:
            continue
        if digest in wanted or now - entry.modified < min_age:
            report.kept.append(digest)
        else:
            doomed.append(digest)
    if dry_run:
        report.deleted = doomed
        _chunks(backend, report, now, min_age, set(doomed), dry_run=True)
        return report
    lock = _Lock(backend, store.gc_hold)
    try:
        for start in range(0, len(doomed), BATCH):
            batch = doomed[start:start + BATCH]
            lock.condemn(batch)  # our flag first ...
            condemned = time.monotonic()
            wanted = _wanted(store, keep, now, temp_age)  # ... then the writers'
            for i, digest in enumerate(batch):
                if digest in wanted:
                    report.kept.append(digest)
                elif time.monotonic() - condemned > store.gc_hold:
                    # Writers stop waiting for us now: deleting later could pull a
                    # bundle from under a pointer. The rest waits for the next run.
                    report.kept.extend(d for d in batch[i:] if d not in wanted)
                    log.warning("safeflags: gc of %s stopped: slower than %g s", store.url, store.gc_hold)
                    return _sweep(backend, lock, report, now, temp_age)
                else:
                    backend.delete(manifest_key(digest))
                    backend.delete(bundle_key(digest))
                    report.deleted.append(digest)
        lock.condemn([])
        _chunks(backend, report, now, min_age, set(report.deleted), dry_run=False)
        return _sweep(backend, lock, report, now, temp_age)
    finally:
        lock.release()


def _wanted(store: Store, keep: int, now: float, temp_age: float) -> set[str]:
    # Intents first, pointers after: a writer removes its intent once its
    # pointer has moved, so one removed before the listing has moved the
    # pointer before the pointers are read. The other order misses a pin
    # that lands between the two reads. (Claims are records, never removed.)
    announced = intended(store.backend, now, temp_age)
    return announced | needed(store, keep)


def needed(store: Store, keep: int) -> set[str]:
    """The digests no gc may take: what every pointer names, the last `keep`
    applied versions of every channel, and every claim not decided yet
    (including those of a channel that has no pointer yet)."""
    versions: dict[str, list[int]] = {name: [] for name in store.channels()}
    for entry in store.backend.list("history/"):
        parts = entry.key.split("/")
        if len(parts) == 3 and parts[2].endswith(".json") and parts[2][:-5].isdigit():
            versions.setdefault(parts[1], []).append(int(parts[2][:-5]))
    wanted = set()
    for channel, numbers in versions.items():
        ptr, _ = store.read_pointer(channel)  # one that does not parse stops gc: better than a guess
        if ptr is not None:
            wanted.add(ptr.digest)
        abandoned = store.claims.abandoned(channel, ptr)
        applied = sorted(v for v in numbers if v <= (ptr.latest if ptr else 0) and v not in abandoned)
        for v in applied[-keep:] + [v for v in numbers if v > top(ptr)]:
            rec = store.record(channel, v)
            if rec is not None:
                wanted.add(rec.digest)
    return wanted


def _chunks(backend: Backend, report: GcReport, now: float, min_age: float, gone: set[str], *,
            dry_run: bool) -> None:
    """Delete the chunks older than `min_age` that no manifest lists (but those of bundles in `gone`),
    and manifests older than `min_age` whose bundle is missing (a publisher killed before writing it,
    or a gc from before manifests existed)."""
    # Chunks listed before manifests: a chunk written after the first listing
    # is no candidate, and a manifest written before the second protects its own.
    candidates = [e.key for e in backend.list("chunks/") if now - e.modified >= min_age]
    bundles = {digest_from_key(e.key) for e in backend.list("bundles/")}
    listed: set[str] = set()
    for entry in backend.list("manifests/"):
        digest = digest_from_key(entry.key)
        if digest is None or digest in gone:
            continue
        if digest not in bundles and now - entry.modified >= min_age:
            if not dry_run:
                backend.delete(entry.key)
            continue
        listed |= pieces.names(pieces.read(backend, digest))
    for key in candidates:
        name = digest_from_key(key)
        if name is None or name in listed:
            continue
        if not dry_run:
            backend.delete(key)
        report.chunks.append(name)


def _sweep(backend: Backend, lock: _Lock, report: GcReport, now: float, temp_age: float) -> GcReport:
    lock.condemn([])
    report.swept = backend.sweep(temp_age, now)
    for entry in backend.list("intents/"):
        if now - entry.modified >= temp_age:  # its writer died before cleaning up
            backend.delete(entry.key)
            report.swept.append(entry.key)
    return report


def intended(backend: Backend, now: float, temp_age: float) -> set[str]:
    """The bundles writers have announced they are about to point at."""
    out = set()
    for entry in backend.list("intents/"):
        if now - entry.modified >= temp_age:
            continue
        obj = backend.get(entry.key)
        try:
            digest = json.loads(obj.data)["digest"] if obj is not None else None
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            digest = None
        if isinstance(digest, str):
            out.add(digest)
    return out


# -- the writers' side -------------------------------------------------------------
def intend(backend: Backend, channel: str, digest: str) -> str:
    """Announce that `channel` is about to point at `digest`; the key to release afterwards."""
    key = f"intents/{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.json"
    body = json.dumps({"channel": channel, "digest": digest, "at": utc_now()}, sort_keys=True).encode()
    backend.put(key, body, if_absent=True)
    return key


def release(backend: Backend, keys: Iterable[str]) -> None:
    for key in keys:
        try:
            backend.delete(key)
        except StoreError as exc:  # a leftover intent only delays gc of one bundle until TEMP_AGE
            log.warning("safeflags: cannot remove %s/%s: %s", backend.url, key, exc)


def hold(backend: Backend, digest: str, data: bytes | None, patience: float) -> None:
    """Once the caller's flag (its claim or intent) is in the store: wait
    while gc holds `digest` condemned, then make sure the bundle exists,
    putting `data` back if gc took it. Raises StoreError when it is gone
    and there are no bytes to put back."""
    first: float | None = None
    for attempt in range(int(patience / _POLL) + 2):
        if not _condemned(backend, digest):
            break
        now = time.monotonic()
        first = now if first is None else first
        if now - first >= patience:
            log.warning("safeflags: gc of %s has held bundle %s for %g s: going on without it",
                        backend.url, digest, patience)
            break
        time.sleep(min(_POLL * 2 ** min(attempt, 3), 0.5, max(0.0, first + patience - now)))
    if backend.info(bundle_key(digest)) is not None:
        return
    if data is None:
        raise StoreError(f"bundle {digest} was garbage-collected from {backend.url}: it can no longer be served")
    backend.put(bundle_key(digest), data)


def _condemned(backend: Backend, digest: str) -> bool:
    obj = backend.get(STATE_KEY)
    if obj is None:
        return False
    state = _parse(obj.data)
    if state is None:
        return True  # unreadable: assume the worst, for at most the patience of a writer
    condemned = state.get("condemned", [])
    return isinstance(condemned, list) and digest in condemned


def _parse(data: bytes) -> dict[str, object] | None:
    try:
        state = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(state, dict) or not isinstance(state.get("condemned", []), list):
        return None
    return state


class _Lock:
    """gc/state.json, created only if absent: one gc at a time, and the list
    of what it has condemned. Stale (its gc died) after 10 holds unchanged."""

    def __init__(self, backend: Backend, patience: float):
        self.backend = backend
        self.id = uuid.uuid4().hex
        self.started = utc_now()
        self.stale_after = 10 * patience
        self.etag = self._take()

    def _body(self, condemned: list[str]) -> bytes:
        return json.dumps({"id": self.id, "started": self.started, "updated": time.time(),
                           "condemned": condemned}, sort_keys=True).encode()

    def _take(self) -> str:
        for _ in range(3):  # the state may vanish between a failed create and the read
            try:
                return self.backend.put(STATE_KEY, self._body([]), if_absent=True)
            except PreconditionFailed:
                pass
            obj = self.backend.get(STATE_KEY)
            if obj is None:
                continue
            other = _parse(obj.data) or {}
            updated = other.get("updated")
            age = time.time() - updated if isinstance(updated, (int, float)) else self.stale_after
            if age < self.stale_after:
                raise StoreError(f"another gc is running on {self.backend.url} (started {other.get('started')}, "
                                 f"last seen {age:.0f} s ago): try again later")
            log.warning("safeflags: taking over the lock of a gc of %s that stopped %.0f s ago",
                        self.backend.url, age)
            try:
                return self.backend.put(STATE_KEY, self._body([]), if_match=obj.etag)
            except PreconditionFailed:
                continue
        raise StoreError(f"cannot take the gc lock {self.backend.url}/{STATE_KEY}: another gc keeps taking it")

    def condemn(self, digests: list[str]) -> None:
        try:
            self.etag = self.backend.put(STATE_KEY, self._body(digests), if_match=self.etag)
        except PreconditionFailed:
            raise StoreError(f"the gc lock of {self.backend.url} was taken over: stopping") from None

    def release(self) -> None:
        obj = self.backend.get(STATE_KEY)
        if obj is not None and (_parse(obj.data) or {}).get("id") == self.id:
            self.backend.delete(STATE_KEY)
