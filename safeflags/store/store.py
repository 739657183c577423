"""Channel operations written once over any backend: publish, pin, unpin,
rollback, history, gc. Every pointer change is a compare-and-swap that is
retried on conflict, so concurrent publishers never lose an update.

Publishing version v is two steps: create `history/<ch>/<v>.json` only if
absent (the claim: exactly one publisher gets v), then swing the pointer from
v-1 to v. A publisher that dies between the two leaves a claim that the next
writer applies for it ("helping"), so the channel never gets stuck.
"""
from __future__ import annotations

import logging
import os
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from safeflags.store.backend import Backend
from safeflags.store.errors import (
    ChannelNotFound,
    ChannelPinned,
    PreconditionFailed,
    StoreError,
    VersionNotFound,
)
from safeflags.store.layout import (
    Event,
    Pointer,
    Record,
    bundle_key,
    check_channel,
    digest_from_key,
    digest_of,
    history_key,
    pointer_key,
    utc_now,
)

log = logging.getLogger("safeflags")

MAX_ATTEMPTS = 2000  # conflicts only; a real outage raises at once


@dataclass
class GcReport:
    kept: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


class BundleStore:
    def __init__(self, backend: Backend):
        self.backend = backend
        self.url = backend.url

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
        """The channel's published versions, oldest first (only the `last` N if given)."""
        check_channel(channel)
        out = []
        entries = self.backend.list(f"history/{channel}/")
        for entry in entries[-last:] if last else entries:
            obj = self.backend.get(entry.key)
            if obj is not None:
                out.append(Record.from_json(obj.data, f"{self.url}/{entry.key}"))
        if not out:
            self.pointer(channel)  # raises ChannelNotFound with the list of channels
        return sorted(out, key=lambda r: r.version)

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
    def put_bundle(self, data: bytes) -> str:
        """Store the bundle under its digest unless it is there already."""
        digest = digest_of(data)
        try:
            self.backend.put(bundle_key(digest), data, if_absent=True)
        except PreconditionFailed:
            # Already stored (same digest, same bytes). Write it again anyway so
            # it counts as recent: gc spares bundles younger than --min-age, and
            # an old unreferenced copy must not vanish before our pointer moves.
            self.backend.put(bundle_key(digest), data)
        return digest

    def publish(self, data: bytes, channel: str, *, source_revision: str = "", force: bool = False,
                signer: Callable[[str, int, str], str] | None = None) -> tuple[Record, Pointer]:
        """Publish `data` as the next version of `channel`.

        Returns the version's record (`forced` when it overrode a pin) and the
        pointer once it was applied. Raises ChannelPinned without force.
        `signer(channel, version, digest)` signs the version once its number
        is known (again on each retry, since the number may change).
        """
        check_channel(channel)
        digest = self.put_bundle(data)
        published = utc_now()
        for attempt in range(MAX_ATTEMPTS):
            ptr, _ = self._settle(channel)
            latest = ptr.latest if ptr else 0
            if ptr is not None and ptr.pinned and not force:
                raise ChannelPinned(
                    f"channel {channel!r} is pinned at version {ptr.version} in {self.url}: "
                    "use --force to publish anyway, or `safeflags unpin` first")
            version = latest + 1
            rec = Record(version=version, digest=digest, source_revision=source_revision,
                         published=published, size=len(data),
                         signature=signer(channel, version, digest) if signer is not None else "",
                         forced=bool(ptr is not None and ptr.pinned))
            try:
                self.backend.put(history_key(channel, rec.version), rec.to_json(), if_absent=True)
            except PreconditionFailed:
                _backoff(attempt)  # another publisher claimed this version first
                continue
            # Our claim is in; make sure the pointer reaches it (we or a helper).
            return rec, self._apply_until(channel, rec.version)
        raise StoreError(f"gave up publishing to {channel!r} after {MAX_ATTEMPTS} conflicts")

    def pin(self, channel: str, version: int) -> Pointer:
        def change(ptr: Pointer) -> Pointer:
            rec = self._existing(channel, version, ptr.latest)
            return Pointer.serving(channel, rec, latest=ptr.latest, pinned=True)
        return self._update(channel, change, "pin")

    def unpin(self, channel: str) -> Pointer:
        """Follow the latest published version again."""
        def change(ptr: Pointer) -> Pointer:
            rec = self._existing(channel, ptr.latest, ptr.latest)
            return Pointer.serving(channel, rec, latest=ptr.latest, pinned=False)
        return self._update(channel, change, "unpin")

    def rollback(self, channel: str) -> Pointer:
        """Pin the version before the one served now."""
        def change(ptr: Pointer) -> Pointer:
            if ptr.version <= 1:
                raise StoreError(f"channel {channel!r} is at version {ptr.version}: nothing to roll back to")
            rec = self._existing(channel, ptr.version - 1, ptr.latest)
            return Pointer.serving(channel, rec, latest=ptr.latest, pinned=True)
        return self._update(channel, change, "rollback")

    def gc(self, keep: int, *, min_age: float = 3600.0, dry_run: bool = False,
           now: float | None = None) -> GcReport:
        """Delete bundles that no channel needs.

        Kept: every channel's current bundle, the bundle it is pinned to, the
        last `keep` versions of every channel, and any bundle younger than
        `min_age` seconds (it may belong to a publish in flight).
        """
        if keep < 1:
            raise StoreError("--keep must be at least 1")
        now = time.time() if now is None else now
        wanted: set[str] = set()
        for channel in self.channels():
            ptr = self.pointer(channel)
            wanted.add(ptr.digest)
            for rec in self.history(channel, last=keep):
                wanted.add(rec.digest)
        report = GcReport()
        for entry in self.backend.list("bundles/"):
            digest = digest_from_key(entry.key)
            if digest is None:
                continue
            if digest in wanted or now - entry.modified < min_age:
                report.kept.append(digest)
                continue
            if not dry_run:
                self.backend.delete(entry.key)
            report.deleted.append(digest)
        return report

    # -- internals -------------------------------------------------------------
    def _read(self, channel: str) -> tuple[Pointer | None, str | None]:
        obj = self.backend.get(pointer_key(channel))
        if obj is None:
            return None, None
        return Pointer.from_json(obj.data, f"{self.url}/{pointer_key(channel)}"), obj.etag

    def _cas(self, channel: str, new: Pointer, etag: str | None) -> bool:
        try:
            if etag is None:
                self.backend.put(pointer_key(channel), new.to_json(), if_absent=True)
            else:
                self.backend.put(pointer_key(channel), new.to_json(), if_match=etag)
            return True
        except PreconditionFailed:
            return False

    def _settle(self, channel: str) -> tuple[Pointer | None, str | None]:
        """Read the pointer, first applying any claimed version it has not reached."""
        attempt = 0
        while True:
            ptr, etag = self._read(channel)
            latest = ptr.latest if ptr else 0
            rec = self.record(channel, latest + 1)
            if rec is None:
                return ptr, etag
            self._cas(channel, _applied(channel, ptr, rec), etag)
            attempt += 1
            _backoff(attempt)

    def _apply_until(self, channel: str, version: int) -> Pointer:
        """Move the pointer forward, claim by claim, until it reaches `version`."""
        attempt = 0
        while True:
            ptr, etag = self._read(channel)
            if ptr is not None and ptr.latest >= version:
                return ptr
            rec = self.record(channel, (ptr.latest if ptr else 0) + 1)
            if rec is None:  # cannot happen while our claim exists; re-read
                continue
            new = _applied(channel, ptr, rec)
            if self._cas(channel, new, etag) and rec.version == version:
                return new
            attempt += 1
            _backoff(attempt)

    def _update(self, channel: str, change: Callable[[Pointer], Pointer], action: str) -> Pointer:
        check_channel(channel)
        for attempt in range(MAX_ATTEMPTS):
            ptr, etag = self._settle(channel)
            if ptr is None:
                self.backend.check()
                raise ChannelNotFound(channel, self.url, self.channels())
            new = change(ptr)
            if self._cas(channel, new, etag):
                self._log_event(channel, Event(action=action, version=new.version, from_version=ptr.version,
                                               at=utc_now(), by=_actor()))
                return new
            _backoff(attempt)
        raise StoreError(f"gave up updating {channel!r} after {MAX_ATTEMPTS} conflicts")

    def _existing(self, channel: str, version: int, latest: int) -> Record:
        rec = self.record(channel, version) if 1 <= version <= latest else None
        if rec is None:
            raise VersionNotFound(channel, version, latest)
        if self.backend.get(bundle_key(rec.digest)) is None:
            raise StoreError(f"version {version} of {channel!r} can no longer be served: "
                             f"its bundle {rec.digest} was garbage-collected from {self.url}")
        return rec


def _applied(channel: str, ptr: Pointer | None, rec: Record) -> Pointer:
    """The pointer once the claimed version `rec` is applied to `ptr`."""
    if ptr is not None and ptr.pinned and not rec.forced:
        # The channel was pinned after the publisher looked: the version is
        # recorded but the pin holds.
        return ptr.with_latest(rec.version)
    return Pointer.serving(channel, rec, latest=rec.version, pinned=False)


def _actor() -> str:
    """Who is changing the channel, for the audit trail: the CI actor, else the login."""
    for var in ("SAFEFLAGS_ACTOR", "GITHUB_ACTOR", "USER", "USERNAME"):
        if os.environ.get(var):
            return os.environ[var]
    return ""


def _backoff(attempt: int) -> None:
    # Jittered, growing and capped: under contention this spreads the
    # retries instead of having every loser hit the store again at once.
    time.sleep(random.uniform(0, min(0.1, 0.002 * (2 ** min(attempt, 6)))))
