"""Keeps a client's snapshot current from a bundle store, and never lets a
delivery fault reach the caller ("fail static").

First load: the store; if that fails, the local cache of the last good
bundle; if none, the cold-start bundle shipped with the service; if nothing
at all, the client serves code defaults (ERROR / PROVIDER_NOT_READY).
`status()` says which.

Then a background thread polls the channel pointer with conditional requests
(ETag), and, for an http(s):// source, a Server-Sent Events stream wakes it as
soon as a publish lands. A new bundle is fetched by digest: from its manifest,
only the chunks the served snapshot lacks (pieces.py), else whole; then checked (digest,
optional Ed25519 signature of (channel, version, digest), format version,
replay of an older version),
built into a snapshot, pre-evaluated, and swapped in with one assignment.
With a public key, every pointer's signed state is checked first (see
signature.StateGuard: signed, not expired, not older than the state already
trusted), and a trusted state past its expiry makes the snapshot STALE.
Any fault keeps the last good snapshot, is counted, and is reported once per
incident (a warning on the "safeflags" logger and the `metrics` hook).
In a forked child the threads start again (fork.py).
"""
from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from safeflags.delivery import fork
from safeflags.delivery.cache import BundleCache
from safeflags.delivery.pieces import Downloads, Fetched, Unusable
from safeflags.delivery.signature import (
    SignatureError,
    StateGuard,
    StateRefused,
    load_public_key,
    statement,
    verify,
)
from safeflags.delivery.status import DeliveryStatus, Fault, Metrics, Update, store_fault
from safeflags.sdk.chunks import Pieces
from safeflags.sdk.kernel.errors import BundleError
from safeflags.sdk.snapshot import Snapshot
from safeflags.store import open_backend
from safeflags.store.backend import MAX_BUNDLE_SIZE, MAX_POINTER_SIZE, Backend
from safeflags.store.errors import CorruptPointer, NotModified, StoreError
from safeflags.store.layout import (
    POINTER_FORMAT,
    Pointer,
    check_channel,
    digest_of,
    pointer_key,
)

log = logging.getLogger("safeflags")

class Delivery:
    def __init__(self, client: Any, *, store: str, channel: str, static: Mapping[str, object] | None = None,
                 cold_start: str | os.PathLike[str] | None = None, cache_dir: str | os.PathLike[str] | None = None,
                 poll_interval: float = 30.0, public_key: Any = None, stale_after: float | None = None,
                 timeout: float = 5.0, push: bool = True, metrics: Metrics | None = None, warm: bool = True,
                 backend: Backend | None = None, clock: Callable[[], float] | None = None,
                 max_bundle_size: int = MAX_BUNDLE_SIZE, max_pointer_size: int = MAX_POINTER_SIZE,
                 min_refresh_interval: float = 1.0, token: str | None = None):
        self.client = client
        self.channel = check_channel(channel)
        # How to open the store again in a forked child (None: the caller's own backend, kept).
        self._reopen: Callable[[], Backend] | None = None
        if backend is None:
            def reopen() -> Backend:
                return open_backend(store, timeout=timeout, retries=1, max_bundle_size=max_bundle_size,
                                    max_pointer_size=max_pointer_size, token=token)
            self._reopen = reopen
        self.backend = backend if backend is not None else reopen()
        self.url = self.backend.url
        self.static = dict(static or {})
        self.cold_start = cold_start
        self.cache = BundleCache(cache_dir, self.url, channel) if cache_dir is not None else None
        self.poll_interval = poll_interval
        # Refreshes are at least this far apart however often a push wakes the
        # poller: a flood of events costs the store one read per gap.
        self.min_refresh_interval = min_refresh_interval
        self.public_key = load_public_key(public_key) if public_key is not None else None
        # `clock` (epoch seconds) decides when a signed state has expired; tests pass a fixed one.
        self.guard = StateGuard(self.public_key, clock or time.time) if self.public_key is not None else None
        self.stale_after = stale_after
        self.timeout = timeout
        self.metrics = metrics
        self.warm = warm
        self.listeners: list[Callable[[Update], object]] = []
        self.observers: list[Metrics] = []  # like `metrics`, for integrations
        self.stop_event = threading.Event()
        self.wake = threading.Event()
        self._refresh_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._push: Any = None
        self._want_push = push and self.backend.url.startswith(("http://", "https://"))
        # What is served now.
        self.pointer: Pointer | None = None
        self.digest = ""
        self.origin = "none"
        self.etag: str | None = None
        self.synced_at: float | None = None
        self.updates = 0
        # The newest version this service has served before (from the cache),
        # so a replayed old pointer is refused even right after a restart.
        self.floor = 0
        # Faults.
        self.faults: dict[str, int] = {}
        self.incident: str | None = None
        self.incident_faults = 0
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.downloads = Downloads(self.channel, self._emit)
        self.pid = os.getpid()
        self.forked_from: int | None = None
        self._forsaken: list[Any] = []  # what the parent's threads held; see after_fork

    # -- life cycle --------------------------------------------------------------
    def start(self) -> Delivery:
        """Load synchronously (store, else cache, else cold start), then refresh in the background."""
        cached = self.cache.load() if self.cache is not None else None
        if cached is not None:
            self.floor = cached[0].version
            if self.guard is not None:
                self.guard.restore(cached[0])
        if not self.refresh():
            self._fallback()
        self._start_threads()
        fork.track(self)
        return self

    def _start_threads(self) -> None:
        poller = threading.Thread(target=self._poll_loop, name=f"safeflags-poll-{self.channel}", daemon=True)
        self._threads.append(poller)
        poller.start()
        if self._want_push:
            from safeflags.delivery.push import PushListener
            self._push = PushListener(self)
            self._threads.append(self._push.start())

    def after_fork(self, parent: int) -> None:
        """In a forked child (fork.py): new locks, events, store connection and threads."""
        if self.stop_event.is_set():
            return  # closed before the fork
        # Kept, never closed: the parent shares their sockets (a shutdown here would cut its connection).
        self._forsaken += [self.backend, self._push, *self._threads]
        self._refresh_lock, self._state_lock = threading.Lock(), threading.Lock()
        self.stop_event, self.wake = threading.Event(), threading.Event()
        fork.fresh_locks(self.client, getattr(self.client, "snapshot", None))
        if self._reopen is not None:
            self.backend = self._reopen()
            self.url = self.backend.url
        self._threads, self._push = [], None
        self.pid, self.forked_from = os.getpid(), parent
        self._start_threads()
        log.info("safeflags: restarted delivery of channel %r in forked child pid %d (forked from %d)",
                 self.channel, self.pid, parent)

    def close(self) -> None:
        fork.untrack(self)
        self.stop_event.set()
        self.wake.set()
        if self._push is not None:
            self._push.close()
        for t in self._threads:
            t.join(timeout=self.timeout + 5)
        self._threads.clear()

    def _poll_loop(self) -> None:
        last = time.monotonic()  # start() has just refreshed
        while not self.stop_event.is_set():
            # A little jitter (never longer than the interval) keeps a fleet
            # of services from polling the store in lock step.
            self.wake.wait(self.poll_interval * random.uniform(0.9, 1.0))
            # Push wakes arriving faster than the minimum gap fold into one
            # refresh at its end: the wake stays set until it is cleared below.
            gap = self.min_refresh_interval - (time.monotonic() - last)
            if self.stop_event.is_set() or (gap > 0 and self.stop_event.wait(gap)):
                return
            self.wake.clear()
            last = time.monotonic()
            self.refresh()

    # -- refreshing ---------------------------------------------------------------
    def refresh(self) -> bool:
        """One round trip to the store. True when a new snapshot was swapped in.
        Never raises: a fault keeps the current snapshot and is recorded."""
        with self._refresh_lock:
            try:
                return self._refresh()
            except Fault as fault:
                self._fault(fault.kind, str(fault))
            except Exception as exc:  # fail static on anything
                self._fault("internal", f"{type(exc).__name__}: {exc}")
            return False

    def _refresh(self) -> bool:
        where = f"{self.url}/{pointer_key(self.channel)}"
        try:
            obj = self.backend.get(pointer_key(self.channel), if_none_match=self.etag)
        except NotModified:
            # The store still says the same thing, but maybe nobody signed it again in time.
            expired = self.guard.expiry_fault() if self.guard is not None else None
            if expired is not None:
                raise Fault("expired", f"{where}: {expired}") from None
            self._synced()
            return False
        except StoreError as exc:
            raise store_fault(exc) from None
        if obj is None:
            try:
                self.backend.check()  # only on this failure path: say whether the store itself is gone
            except StoreError as exc:
                raise store_fault(exc) from None
            raise Fault("not_found", f"channel {self.channel!r} does not exist in {self.url}")
        try:
            ptr = Pointer.from_json(obj.data, where)
        except CorruptPointer as exc:
            raise Fault("corrupt_pointer", str(exc)) from None
        if ptr.channel != self.channel:
            raise Fault("corrupt_pointer", f"{where} is the pointer of channel {ptr.channel!r}")
        if ptr.format != POINTER_FORMAT:
            raise Fault("unknown_format", f"{where} is in pointer format {ptr.format!r}; this client reads "
                                          f"format {POINTER_FORMAT}: upgrade safeflags to follow it")
        if self.guard is not None:
            try:
                self.guard.admit(ptr)
            except StateRefused as exc:
                raise Fault(exc.kind, f"{where}: {exc}") from None
        cur = self.pointer
        if ptr.digest == self.digest:
            # Same bytes (maybe pinned or unpinned meanwhile): nothing to load.
            with self._state_lock:
                # The store now vouches for what the cache or cold start gave us.
                self.pointer, self.etag, self.origin = ptr, obj.etag, "store"
                if self.guard is not None:
                    self.guard.accept(ptr)
            self._synced()
            return False
        served = cur.version if cur is not None else self.floor
        if not ptr.pinned and ptr.version <= served:
            raise Fault("replay", f"{where} points at version {ptr.version}, not newer than version "
                                  f"{served} already served, and the channel is not pinned")
        fetched = self._fetch(ptr)
        try:
            snapshot = self._verify(ptr, fetched.bundle, trusted=False)
        except Fault as fault:
            if fault.kind != "bad_pieces":
                raise
            # Chunks that each match the manifest but do not make the bundle (a forged manifest):
            # the whole bundle is checked as ever, and faults only if it is bad as well.
            self.downloads.fell_back(Unusable(fault.kind, str(fault), fetched.fetched))
            fetched = self.downloads.whole(self.backend, ptr, fetched.fetched)
            snapshot = self._verify(ptr, fetched.bundle, trusted=False)
        if self.guard is not None:
            self.guard.accept(ptr)
        self._install(snapshot, ptr, "store", obj.etag)
        self.downloads.count(fetched)
        if self.cache is not None:
            self.cache.save(ptr, fetched.bundle)
        self._synced()
        return True

    def _fetch(self, ptr: Pointer) -> Fetched:
        """The bundle `ptr` names: only the chunks the served snapshot lacks when the store has them."""
        have: dict[bytes, bytes] = {}
        if self.origin != "none":
            try:
                have = self.client.snapshot.chunk_index()
            except Exception:  # an evaluator without one: fetch whole
                have = {}
        return self.downloads.fetch(self.backend, ptr, have)

    def _verify(self, ptr: Pointer | None, data: bytes | Pieces, *, trusted: bool) -> Snapshot:
        """Digest, signature (unless the bytes are the operator's own cold-start
        file), format, then build and pre-evaluate the snapshot (reusing what the
        served one prepared of the flags that did not change). Pieces are checked
        by Snapshot.from_pieces, which hashes them as it must before building (one
        pass over the bundle fewer); anything wrong with them is a "bad_pieces"."""
        if ptr is not None and isinstance(data, bytes) and digest_of(data) != ptr.digest:
            raise Fault("digest_mismatch", f"bundle for version {ptr.version} does not match its digest "
                                           f"{ptr.digest} ({len(data)} bytes): corrupt or truncated")
        if self.public_key is not None and not trusted:
            assert ptr is not None  # only the cold-start file comes without a pointer, and it is trusted
            try:
                verify(statement(self.channel, ptr.version, ptr.digest), ptr.signature, self.public_key)
            except SignatureError as exc:
                raise Fault("bad_signature", f"version {ptr.version} of {self.channel!r}: {exc}") from None
        previous = self.client.snapshot if self.origin != "none" else None
        try:
            if isinstance(data, Pieces):
                assert ptr is not None  # pieces come from the store, always under a pointer
                snapshot = Snapshot.from_pieces(data, self.static, digest=ptr.digest, previous=previous)
            else:
                snapshot = Snapshot.from_bytes(data, static=self.static, digest=ptr.digest if ptr else None,
                                               previous=previous)
        except BundleError as exc:
            raise Fault("bad_pieces" if isinstance(data, Pieces) else "bad_bundle", str(exc)) from None
        if self.warm:
            snapshot.warm()  # pre-evaluate here, off the request path
        return snapshot

    def _install(self, snapshot: Snapshot, ptr: Pointer | None, origin: str, etag: str | None) -> None:
        with self._state_lock:
            old = self.pointer.version if self.pointer is not None else None
            self.client.swap(snapshot)
            self.pointer, self.digest, self.origin, self.etag = ptr, snapshot.digest, origin, etag
            self.updates += 1
        change = Update(self.channel, old, ptr.version if ptr else None, snapshot.digest,
                        snapshot.source_revision, origin)
        log.info("safeflags: channel %r now serves version %s (%s) from %s",
                 self.channel, change.version, snapshot.digest[:19], origin)
        self._emit("safeflags.delivery.update", {"version": change.version, "digest": change.digest,
                                                  "origin": origin})
        for listener in list(self.listeners):
            try:
                listener(change)
            except Exception:  # a listener's bug is not a delivery fault
                log.exception("safeflags: change listener %r failed", listener)

    def _fallback(self) -> None:
        """The store could not serve at start-up: the cache, else the cold-start bundle."""
        if self.cache is not None:
            entry = self.cache.load()
            if entry is not None:
                ptr, data, fetched_at = entry
                try:
                    self._install(self._verify(ptr, data, trusted=False), ptr, "cache", None)
                    self.synced_at = fetched_at
                    return
                except Fault as fault:
                    log.warning("safeflags: ignoring the cached bundle: %s", fault)
        if self.cold_start is not None:
            from safeflags.store.file import read_regular  # bounded, and never blocks on a FIFO
            try:
                cold = read_regular(self.cold_start, self.backend.limits.bundle)
                if cold is None:
                    raise FileNotFoundError(f"no file {self.cold_start}")
                self._install(self._verify(None, cold, trusted=True), None, "cold_start", None)
                return
            except (OSError, Fault, StoreError) as exc:
                log.error("safeflags: cannot load the cold-start bundle %s: %s", self.cold_start, exc)
        log.error("safeflags: no bundle for channel %r (store %s unreachable, no cache, no cold-start "
                  "bundle): serving code defaults until the store answers", self.channel, self.url)

    # -- faults and health ---------------------------------------------------------
    def _fault(self, kind: str, message: str) -> None:
        with self._state_lock:
            self.faults[kind] = self.faults.get(kind, 0) + 1
            self.last_error, self.last_error_at = f"{kind}: {message}", time.time()
            self.incident_faults += 1
            first = self.incident is None
            if first:
                self.incident = kind
            version = self.pointer.version if self.pointer is not None else None
            keeping = (f"version {version}" if version is not None else f"the {self.origin} bundle"
                       if self.origin != "none" else "code defaults")
        if first:
            log.warning("safeflags: delivery of channel %r from %s failed (%s): %s; serving %s "
                        "(reported once until it recovers)", self.channel, self.url, kind, message, keeping)
            self._emit("safeflags.delivery.fault", {"kind": kind, "message": message, "version": version})

    def _synced(self) -> None:
        with self._state_lock:
            self.synced_at = time.time()
            kind, count = self.incident, self.incident_faults
            self.incident, self.incident_faults = None, 0
        if kind is not None:
            log.warning("safeflags: delivery of channel %r recovered after %d failed attempt(s) (%s)",
                        self.channel, count, kind)
            self._emit("safeflags.delivery.recovered", {"kind": kind, "faults": count})

    def _emit(self, event: str, attrs: Mapping[str, object]) -> None:
        """Tell the metrics hook and any observers (e.g. the OpenFeature provider)."""
        hooks = ([self.metrics] if self.metrics is not None else []) + list(self.observers)
        for hook in hooks:
            try:
                hook(event, {"channel": self.channel, **attrs})
            except Exception:  # a hook's bug is not a delivery fault
                log.exception("safeflags: delivery hook %r failed", hook)

    def age(self) -> float | None:
        return None if self.synced_at is None else max(0.0, time.time() - self.synced_at)

    def is_stale(self) -> bool:
        if self.origin == "none":
            return False
        if self.guard is not None and self.guard.expired():
            return True
        if self.stale_after is None:
            return False
        age = self.age()
        return age is None or age > self.stale_after

    def status(self) -> DeliveryStatus:
        with self._state_lock:
            ptr = self.pointer
            return DeliveryStatus(
                origin=self.origin, store=self.url, channel=self.channel,
                version=ptr.version if ptr else None, digest=self.digest,
                source_revision=self.client.snapshot.source_revision if self.origin != "none" else "",
                pinned=bool(ptr and ptr.pinned), published=ptr.published if ptr else "",
                synced_at=self.synced_at, age=self.age(), stale=self.is_stale(),
                healthy=self.incident is None, last_error=self.last_error, last_error_at=self.last_error_at,
                faults=dict(self.faults), updates=self.updates,
                push=self._push.state if self._push is not None else "off",
                push_events=self._push.events if self._push is not None else 0,
                expires=self.guard.expires if self.guard is not None else "",
                fetched=self.downloads.how, fetched_bytes=self.downloads.last,
                fetched_bytes_total=self.downloads.total, fallbacks=dict(self.downloads.fallbacks),
                pid=self.pid, forked_from=self.forked_from,
            )
