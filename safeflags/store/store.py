"""Channel operations written once over any backend: publish, pin, unpin,
rollback, history, gc. Every pointer change is a compare-and-swap that is
retried on conflict (a bounded number of times), so concurrent publishers
never lose an update.

Publishing version v is two steps: create `history/<ch>/<v>.json` only if
absent (the claim: exactly one publisher gets v), then swing the pointer from
v-1 to v. Only the claim's own publisher ever applies it. A claim still not
applied `claim_timeout` seconds after it was made (its publisher was killed,
or stalled) is *abandoned* by the next writer, in the compare-and-swap that
moves the pointer: the pointer's `abandoned` field names it, the next
version is v+1, and `abandoned/<ch>/<v>.json` marks it for good before the
field names another one. So the pointer swap is the one place a claim's fate
is decided: applied by its publisher (who, woken late, finds its claim
abandoned and claims again) or abandoned, never both, and never applied
later by someone else. gc's protocol with the writers is in gc.py.
"""
from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import replace

from safeflags.store import gc, pieces
from safeflags.store.backend import Backend
from safeflags.store.claims import CLAIM_TIMEOUT, Claims, abandoned_key, actor, top
from safeflags.store.errors import (
    ChannelNotFound,
    ChannelPinned,
    CorruptPointer,
    PreconditionFailed,
    StoreError,
    UnsupportedFormat,
    VersionNotFound,
)
from safeflags.store.gc import GcReport
from safeflags.store.layout import (
    POINTER_FORMAT,
    Event,
    Pointer,
    Record,
    StateSigner,
    bundle_key,
    check_channel,
    digest_of,
    history_key,
    pointer_key,
    utc_now,
)

__all__ = ["BundleStore", "GcReport"]

log = logging.getLogger("safeflags")

MAX_ATTEMPTS = 2000  # conflicts only; a real outage raises at once


class BundleStore:
    def __init__(self, backend: Backend, *, claim_timeout: float = CLAIM_TIMEOUT, gc_hold: float = gc.GC_HOLD):
        self.backend = backend
        self.url = backend.url
        self.claims = Claims(backend, claim_timeout)
        self.gc_hold = gc_hold

    @property
    def claim_timeout(self) -> float:
        """Seconds a claim may stay unapplied before the next writer abandons it (claims.py)."""
        return self.claims.timeout

    @claim_timeout.setter
    def claim_timeout(self, seconds: float) -> None:
        self.claims.timeout = seconds

    # -- reading -------------------------------------------------------------
    def channels(self) -> list[str]:
        names = []
        for entry in self.backend.list("channels/"):
            name = entry.key[len("channels/"):]
            if name.endswith(".json") and "/" not in name:
                names.append(name[: -len(".json")])
        return sorted(names)

    def pointer(self, channel: str) -> Pointer:
        ptr, _ = self._read(check_channel(channel))
        if ptr is None:
            self.backend.check()
            raise ChannelNotFound(channel, self.url, self.channels())
        return ptr

    def bundle(self, digest: str) -> bytes:
        obj = self.backend.get(bundle_key(digest))
        if obj is None:
            raise StoreError(f"bundle {digest} is missing from {self.url}")
        return obj.data

    def history(self, channel: str, last: int | None = None) -> list[Record]:
        """The channel's published versions, oldest first (only the `last` N if given);
        those whose publish never finished are marked `abandoned`."""
        check_channel(channel)
        out = []
        entries = self.backend.list(f"history/{channel}/")
        for entry in entries[-last:] if last else entries:
            obj = self.backend.get(entry.key)
            if obj is not None:
                out.append(Record.from_json(obj.data, f"{self.url}/{entry.key}"))
        if not out:
            self.pointer(channel)  # raises ChannelNotFound with the list of channels
        try:
            ptr, _ = self._read(channel)
        except CorruptPointer:
            ptr = None  # the history is still worth showing
        abandoned = self.claims.abandoned(channel, ptr)
        return sorted((replace(r, abandoned=r.version in abandoned) for r in out), key=lambda r: r.version)

    def events(self, channel: str) -> list[Event]:
        """Pins, unpins and rollbacks of the channel, oldest first."""
        out = []
        for entry in self.backend.list(f"events/{check_channel(channel)}/"):
            obj = self.backend.get(entry.key)
            if obj is not None:
                out.append(Event.from_json(obj.data, f"{self.url}/{entry.key}"))
        return out

    def _log_event(self, channel: str, event: Event) -> None:
        # After the pointer moved: the change stands even if the audit entry
        # cannot be written, so say so instead of failing the command.
        # Nanoseconds in the name keep a plain listing in order.
        key = f"events/{channel}/{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.json"
        try:
            self.backend.put(key, event.to_json(), if_absent=True)
        except (StoreError, PreconditionFailed) as exc:
            log.warning("safeflags: %s of %r done, but its audit entry was not written: %s",
                        event.action, channel, exc)

    def record(self, channel: str, version: int) -> Record | None:
        obj = self.backend.get(history_key(channel, version))
        return None if obj is None else Record.from_json(obj.data, f"{self.url}/{history_key(channel, version)}")

    # -- writing -------------------------------------------------------------
    def put_bundle(self, data: bytes, *, channel: str | None = None) -> str:
        """Store the bundle under its digest unless it is there already: its
        chunks and manifest first (pieces.py; with `channel`, the chunks of the
        bundle it serves now are taken as there), then the bundle itself."""
        digest = digest_of(data)
        pieces.write(self.backend, data, digest, pieces.known(self.backend, self._serving(channel)))
        try:
            self.backend.put(bundle_key(digest), data, if_absent=True)
        except PreconditionFailed:
            # Already stored (same digest, same bytes). Write it again anyway so
            # it counts as recent: gc spares bundles younger than --min-age, and
            # an old unreferenced copy must not vanish before our pointer moves.
            self.backend.put(bundle_key(digest), data)
        return digest

    def publish(self, data: bytes, channel: str, *, source_revision: str = "", force: bool = False,
                signer: StateSigner | None = None) -> tuple[Record, Pointer]:
        """Publish `data` as the next version of `channel`.

        Returns the version's record (`forced` when it overrode a pin) and the
        pointer once it was applied. Raises ChannelPinned without force.
        `signer(channel, version, digest)` signs the version once its number
        is known (again on each retry, since the number may change), and the
        channel state that serves it. Only this call ever applies its claim
        (see claims.py): killed before that, the claim is abandoned, never served.
        """
        check_channel(channel)
        if len(data) > self.backend.limits.bundle:
            raise StoreError(f"the bundle is {len(data):,} bytes, more than the {self.backend.limits.bundle:,} "
                             f"readers of {self.url} take (max_bundle_size)")
        digest = self.put_bundle(data, channel=channel)
        for attempt in range(MAX_ATTEMPTS):
            ptr, etag = self._read(channel)
            if ptr is not None and ptr.pinned and not force:
                raise ChannelPinned(
                    f"channel {channel!r} is pinned at version {ptr.version} in {self.url}: "
                    "use --force to publish anyway, or `safeflags unpin` first")
            version = top(ptr) + 1
            pending = self.record(channel, version)
            if pending is not None:  # someone else's claim, not applied yet
                if not self.claims.stale(channel, pending):
                    _backoff(attempt)  # give its publisher the time to apply it
                    continue
                if ptr is not None:
                    self._abandon(channel, ptr, etag, pending)
                    continue
                # A new channel's first publish never finished: there is no
                # pointer to abandon it in, so claim the next version and
                # abandon that one when applying ours.
                version += 1
                second = self.record(channel, version)
                if second is not None:
                    if not self.claims.stale(channel, second):
                        _backoff(attempt)  # another publisher is doing just that
                        continue
                    raise StoreError(f"channel {channel!r} in {self.url} has no pointer and its first publishes "
                                     f"never finished: remove {self.url}/history/{channel}/ to start it afresh")
            rec = Record(version=version, digest=digest, source_revision=source_revision,
                         published=utc_now(), size=len(data),
                         signature=signer(channel, version, digest) if signer is not None else "",
                         forced=bool(ptr is not None and ptr.pinned), publisher=actor())
            if signer is not None:
                rec = replace(rec, state=signer.sign_state(
                    Pointer.serving(channel, rec, latest=version, pinned=False), ptr))
            try:
                self.backend.put(history_key(channel, rec.version), rec.to_json(), if_absent=True)
            except PreconditionFailed:
                _backoff(attempt)  # another publisher claimed this version first
                continue
            # The claim is gc's sign that the bundle is wanted: now make sure gc is not taking it.
            gc.hold(self.backend, digest, data, self.gc_hold)
            applied = self._apply_own(channel, rec)
            if applied is not None:
                return rec, applied
            # Abandoned before we could apply it (we stalled past claim_timeout): claim again.
        raise StoreError(f"gave up publishing to {channel!r} after {MAX_ATTEMPTS} conflicts")

    # pin, unpin, rollback and refresh_signature sign the state they write
    # with `signer`; without one the state is left unsigned, which clients
    # holding the key refuse.
    def pin(self, channel: str, version: int, *, signer: StateSigner | None = None) -> Pointer:
        def change(ptr: Pointer) -> Pointer:
            rec = self._existing(channel, version, ptr.latest)
            return _signed(Pointer.serving(channel, rec, latest=ptr.latest, pinned=True), ptr, signer)
        return self._update(channel, change, "pin")

    def unpin(self, channel: str, *, signer: StateSigner | None = None) -> Pointer:
        """Follow the latest published version again."""
        def change(ptr: Pointer) -> Pointer:
            rec = self._existing(channel, ptr.latest, ptr.latest)
            return _signed(Pointer.serving(channel, rec, latest=ptr.latest, pinned=False), ptr, signer)
        return self._update(channel, change, "unpin")

    def rollback(self, channel: str, *, signer: StateSigner | None = None, reason: str = "",
                 serving: int | None = None) -> Pointer:
        """Pin the version before the one served now (skipping abandoned ones); `reason` goes to the
        audit entry. With `serving`, only while the channel still serves that version (checked in
        the same compare-and-swap, so a version published meanwhile is never the one rolled back)."""
        def change(ptr: Pointer) -> Pointer:
            if serving is not None and ptr.version != serving:
                raise StoreError(f"channel {channel!r} serves version {ptr.version} now, not {serving}: "
                                 "not rolled back")
            abandoned = self.claims.abandoned(channel, ptr)
            previous = next((v for v in range(ptr.version - 1, 0, -1) if v not in abandoned), 0)
            if previous < 1:
                raise StoreError(f"channel {channel!r} is at version {ptr.version}: nothing to roll back to")
            rec = self._existing(channel, previous, ptr.latest)
            return _signed(Pointer.serving(channel, rec, latest=ptr.latest, pinned=True), ptr, signer)
        return self._update(channel, change, "rollback", reason)

    def refresh_signature(self, channel: str, signer: StateSigner) -> Pointer:
        """Sign the channel's current state again with a new time and expiry;
        what it serves (version, digest, pinned) does not change."""
        def change(ptr: Pointer) -> Pointer:
            return replace(ptr, state=signer.renew(ptr), updated=utc_now())
        return self._update(channel, change, "refresh-signature")

    def gc(self, keep: int, *, min_age: float = 3600.0, dry_run: bool = False,
           now: float | None = None, temp_age: float | None = None) -> GcReport:
        """Delete bundles that no channel needs, safe against writers racing it (gc.py).

        Kept: every channel's current bundle, the bundle it is pinned to, the
        last `keep` applied versions of every channel, every publish in
        flight, and any bundle younger than `min_age` seconds. Also removes
        temporary files and intents older than `temp_age` (default one hour)
        that killed writers left.
        """
        return gc.collect(self, keep, min_age=min_age, dry_run=dry_run, now=now,
                          temp_age=gc.TEMP_AGE if temp_age is None else temp_age)

    def read_pointer(self, channel: str) -> tuple[Pointer | None, str | None]:
        """The pointer and its etag, (None, None) when the channel has none."""
        return self._read(check_channel(channel))

    # -- internals -------------------------------------------------------------
    def _serving(self, channel: str | None) -> str | None:
        """The digest `channel` serves, None when unknown (the caller reports a bad pointer itself)."""
        try:
            ptr = self._read(channel)[0] if channel is not None else None
        except StoreError:
            return None
        return ptr.digest if ptr is not None else None

    def _read(self, channel: str) -> tuple[Pointer | None, str | None]:
        obj = self.backend.get(pointer_key(channel))
        if obj is None:
            return None, None
        where = f"{self.url}/{pointer_key(channel)}"
        ptr = Pointer.from_json(obj.data, where)
        if ptr.format != POINTER_FORMAT:
            # Rewriting it in our format would drop what the newer writer put there.
            raise UnsupportedFormat(f"{where} is in pointer format {ptr.format}; this safeflags reads format "
                                    f"{POINTER_FORMAT}: upgrade it before changing the channel")
        return ptr, obj.etag

    def _cas(self, channel: str, new: Pointer, etag: str | None) -> bool:
        try:
            if etag is None:
                self.backend.put(pointer_key(channel), new.to_json(), if_absent=True)
            else:
                self.backend.put(pointer_key(channel), new.to_json(), if_match=etag)
            return True
        except PreconditionFailed:
            return False

    def _apply_own(self, channel: str, rec: Record) -> Pointer | None:
        """Move the pointer to our claim `rec`; None when another writer abandoned it first."""
        for attempt in range(MAX_ATTEMPTS):
            ptr, etag = self._read(channel)
            if top(ptr) >= rec.version:
                # Decided, and not by a swap of ours that we saw succeed: either
                # one whose answer was lost (a retried request), or an abandon.
                return None if self.claims.is_abandoned(channel, ptr, rec.version) else ptr
            new = _applied(channel, ptr, rec)
            skipped = None
            if top(ptr) < rec.version - 1:  # the first publish of a new channel died (see publish)
                skipped = self.record(channel, top(ptr) + 1)
                if skipped is None or not self.claims.stale(channel, skipped):
                    _backoff(attempt)
                    continue
                new = self.claims.abandoning(channel, ptr, new, skipped)
            if self._cas(channel, new, etag):
                if skipped is not None:
                    self.claims.mark(channel, skipped.version)
                return new
            _backoff(attempt)
        raise StoreError(f"gave up applying version {rec.version} of {channel!r} after {MAX_ATTEMPTS} conflicts")

    def _abandon(self, channel: str, ptr: Pointer, etag: str | None, claim: Record) -> None:
        if self._cas(channel, self.claims.abandoning(channel, ptr, replace(ptr, updated=utc_now()), claim), etag):
            self.claims.mark(channel, claim.version)

    def _update(self, channel: str, change: Callable[[Pointer], Pointer], action: str, reason: str = "") -> Pointer:
        """Swap the pointer for `change(pointer)`; a stale claim it finds is abandoned in the same swap."""
        check_channel(channel)
        intents: list[str] = []
        held: set[str] = set()
        try:
            for attempt in range(MAX_ATTEMPTS):
                ptr, etag = self._read(channel)
                if ptr is None:
                    self.backend.check()
                    raise ChannelNotFound(channel, self.url, self.channels())
                new = replace(change(ptr), abandoned=ptr.abandoned)
                if new.version == ptr.abandoned and new.version != ptr.version:  # not marked yet, maybe
                    raise StoreError(f"version {new.version} of {channel!r} was abandoned (its publish never "
                                     "finished): it was never served")
                pending = self.record(channel, top(ptr) + 1)
                stale = pending if pending is not None and self.claims.stale(channel, pending) else None
                if stale is not None:
                    new = self.claims.abandoning(channel, ptr, new, stale)
                if new.digest != ptr.digest and new.digest not in held:
                    # Our intent is gc's sign that the bundle is wanted: then make sure gc is not taking it.
                    intents.append(gc.intend(self.backend, channel, new.digest))
                    gc.hold(self.backend, new.digest, None, self.gc_hold)
                    held.add(new.digest)
                if self._cas(channel, new, etag):
                    if stale is not None:
                        self.claims.mark(channel, stale.version)
                    self._log_event(channel, Event(action=action, version=new.version, from_version=ptr.version,
                                                   at=utc_now(), by=actor(), reason=reason))
                    return new
                _backoff(attempt)
        finally:
            gc.release(self.backend, intents)
        raise StoreError(f"gave up updating {channel!r} after {MAX_ATTEMPTS} conflicts")

    def _existing(self, channel: str, version: int, latest: int) -> Record:
        rec = self.record(channel, version) if 1 <= version <= latest else None
        if rec is None:
            raise VersionNotFound(channel, version, latest)
        if self.backend.get(abandoned_key(channel, version)) is not None:
            raise StoreError(f"version {version} of {channel!r} was abandoned (its publish never finished): "
                             "it was never served")
        if self.backend.info(bundle_key(rec.digest)) is None:
            raise StoreError(f"version {version} of {channel!r} can no longer be served: "
                             f"its bundle {rec.digest} was garbage-collected from {self.url}")
        return rec


def _applied(channel: str, ptr: Pointer | None, rec: Record) -> Pointer:
    """The pointer once the claimed version `rec` is applied to `ptr`."""
    if ptr is not None and ptr.pinned and not rec.forced:
        # The channel was pinned after the publisher looked: the version is
        # recorded but the pin holds.
        return ptr.with_latest(rec.version)
    new = Pointer.serving(channel, rec, latest=rec.version, pinned=False)
    return replace(new, abandoned=ptr.abandoned) if ptr is not None else new


def _signed(new: Pointer, old: Pointer, signer: StateSigner | None) -> Pointer:
    """`new` with its state signed after `old`'s, or unsigned without a signer
    (never with a state that was signed for another pointer)."""
    return replace(new, state=signer.sign_state(new, old) if signer is not None else None)


def _backoff(attempt: int) -> None:
    # Jittered, growing and capped: under contention this spreads the
    # retries instead of having every loser hit the store again at once.
    time.sleep(random.uniform(0, min(0.1, 0.002 * (2 ** min(attempt, 6)))))
