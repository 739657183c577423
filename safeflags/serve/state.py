"""What `safeflags serve` knows of the store, shared by every route (OFREP's included).

One watcher task polls the store: conditional reads of every known channel
pointer, in an executor since the backends block, and every `list_interval`
a listing to find new channels. A moved pointer is fanned out to every event
stream and to the listeners. So a thousand subscribed services cost the store
one poll per interval, and several serve processes need no coordination: each
watches the store on its own and serves what it read.

Immutable objects (bundles, manifests, chunks, history records) are cached by
bytes in an LRU and read once however many clients ask at the same moment; a
bundle or chunk whose bytes do not hash to its name is never served. A channel
the store does not have is remembered for `negative_ttl`, so a client asking for
thousands of unknown channels costs one read each per interval, not per request.
An immutable object the store does not have is remembered the same way, but only
for one `watch_interval`: it is content-addressed, so it may be written a moment
later (a publish writes the bundle before moving the pointer), and a pointer that
moves to a digest forgets that digest's absence at once. A store error is never
remembered as an absence.

Everything except the store reads runs on the event loop: no locks.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from safeflags.serve.metrics import Metrics
from safeflags.serve.stream import Hub, event_of
from safeflags.store import BundleStore, CorruptPointer, NotModified, Obj, Pointer, StoreError
from safeflags.store.layout import CHANNEL_RE, pointer_key

log = logging.getLogger("safeflags.serve")

T = TypeVar("T")
MAX_UNKNOWN = 4096
"""Unknown channel names remembered at most; the oldest are forgotten first."""
MAX_ABSENT = 4096
"""Absent immutable objects remembered at most; the oldest are forgotten first."""


@dataclass(frozen=True)
class Settings:
    watch_interval: float = 0.2
    list_interval: float = 10.0
    heartbeat: float = 15.0
    negative_ttl: float = 10.0
    cache_bytes: int = 256 << 20
    store_threads: int = 8
    token: str | None = None
    max_channels: int = 16
    read_timeout: float = 10.0
    write_timeout: float = 10.0
    max_body: int = 1 << 20


class ObjectCache:
    """Immutable store objects by key, bounded by their total size."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.size = 0
        self._items: OrderedDict[str, bytes] = OrderedDict()

    def get(self, key: str) -> bytes | None:
        data = self._items.get(key)
        if data is not None:
            self._items.move_to_end(key)
        return data

    def put(self, key: str, data: bytes) -> None:
        if len(data) > self.max_bytes // 4 or key in self._items:
            return  # one huge object must not evict everything else
        self._items[key] = data
        self.size += len(data)
        while self.size > self.max_bytes:
            _, old = self._items.popitem(last=False)
            self.size -= len(old)


class ServeState:
    def __init__(self, store: BundleStore, settings: Settings):
        self.store = store
        self.settings = settings
        self.metrics = Metrics()
        self.hub = Hub(self.metrics)
        self.executor = ThreadPoolExecutor(settings.store_threads, thread_name_prefix="safeflags-serve-store")
        self.last_watch: float | None = None  # Unix time of the last poll in which every read succeeded
        self.last_error: str | None = None
        self._pointers: dict[str, tuple[bytes, str, Pointer]] = {}
        self._store_etags: dict[str, str] = {}  # the store's own etags, for conditional polls
        self._unknown: OrderedDict[str, float] = OrderedDict()  # channel -> when the store said it has none
        self._absent: OrderedDict[str, float] = OrderedDict()  # immutable key -> when the store said it has none
        self._loading: dict[str, asyncio.Task[Any]] = {}  # single flight: one store read per key at a time
        self._objects = ObjectCache(settings.cache_bytes)
        self._listeners: list[Callable[[str, Pointer], None]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self.metrics.gauge("last_watch_timestamp_seconds", lambda: self.last_watch or 0.0)
        self.metrics.gauge("channels_watched", lambda: len(self._pointers))

    # -- what routes ask ---------------------------------------------------------------------------------
    def pointer(self, channel: str) -> tuple[bytes, str, Pointer] | None:
        """Body, ETag and parsed pointer of a channel, or None until known. Asking for a channel
        not yet known starts reading it (so the next call may have it)."""
        item = self._pointers.get(channel)
        if item is None and CHANNEL_RE.match(channel) and channel not in self._loading:
            self._spawn(self._quietly(self.load_pointer(channel)))
        return item

    async def load_pointer(self, channel: str) -> tuple[bytes, str, Pointer] | None:
        """The pointer, read from the store first if not known yet (StoreError when it cannot be read)."""
        item = self._pointers.get(channel)
        if item is not None or not CHANNEL_RE.match(channel):
            return item
        seen = self._unknown.get(channel)
        if seen is not None and time.monotonic() - seen < self.settings.negative_ttl:
            return None
        task = self._loading.get(channel)
        if task is None:
            task = self._spawn(self._read_new(channel))
            self._loading[channel] = task
            task.add_done_callback(lambda _: self._loading.pop(channel, None))
        return await asyncio.shield(task)

    async def bundle(self, digest: str) -> bytes | None:
        return await self.immutable(f"bundles/{digest}.pb", digest)

    async def immutable(self, key: str, digest: str | None = None) -> bytes | None:
        """An object that never changes once written; `digest` ("sha256-<hex>") is checked when given."""
        data = self._objects.get(key)
        if data is not None:
            return data
        seen = self._absent.get(key)
        if seen is not None:
            if time.monotonic() - seen < self.settings.watch_interval:
                return None
            del self._absent[key]
        task = self._loading.get(key)
        if task is None:
            task = self._spawn(self._read_immutable(key, digest))
            self._loading[key] = task
            task.add_done_callback(lambda _: self._loading.pop(key, None))
        return await asyncio.shield(task)

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """A blocking store call, off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def add_listener(self, fn: Callable[[str, Pointer], None]) -> None:
        """`fn(channel, pointer)` on the event loop whenever a watched channel's pointer changes."""
        self._listeners.append(fn)

    def health(self) -> tuple[bool, dict[str, Any]]:
        age = None if self.last_watch is None else max(0.0, time.time() - self.last_watch)
        stale_after = max(5.0, 10 * self.settings.watch_interval, 2 * self.settings.list_interval)
        ok = age is not None and age <= stale_after
        return ok, {"status": "ok" if ok else "unhealthy", "store": self.store.url,
                    "store_reachable": self.last_error is None, "last_watch_age_seconds": age,
                    "last_error": self.last_error, "channels": len(self._pointers),
                    "subscribers": len(self.hub.all)}

    # -- watching ------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._spawn(self._watch())
        self._spawn(self._heartbeat())

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.executor.shutdown(wait=False, cancel_futures=True)

    async def poll(self, list_channels: bool = False) -> None:
        """One round: every known channel (and, when asked, every channel the store lists)."""
        names = sorted(self._pointers)
        self.metrics.inc("store_reads_total", len(names), kind="poll")
        if list_channels:
            self.metrics.inc("store_reads_total", kind="listing")
        try:
            changes, errors = await self.read(self._poll, names, dict(self._store_etags), list_channels)
        except Exception as exc:  # keep serving what we have
            self._failed(f"cannot poll {self.store.url}: {exc}")
            return
        for channel, obj in changes:
            self._apply(channel, obj)
        if errors:
            self._failed("; ".join(errors))
        else:
            self.last_watch, self.last_error = time.time(), None

    async def _watch(self) -> None:
        cycles_per_list = max(1, round(self.settings.list_interval / self.settings.watch_interval))
        cycle = 0
        while True:
            await asyncio.sleep(self.settings.watch_interval)
            cycle += 1
            await self.poll(list_channels=cycle % cycles_per_list == 0)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat)
            self.hub.ping()

    def _poll(self, names: list[str], etags: dict[str, str],
              list_channels: bool) -> tuple[list[tuple[str, Obj]], list[str]]:
        """In the executor: read what changed. One bad channel must not stall the others."""
        if list_channels:
            names = sorted(set(names) | set(self.store.channels()))
        changes: list[tuple[str, Obj]] = []
        errors: list[str] = []
        for channel in names:
            try:
                obj = self.store.backend.get(pointer_key(channel), if_none_match=etags.get(channel))
            except NotModified:
                continue
            except Exception as exc:
                errors.append(f"cannot read channel {channel!r}: {exc}")
                continue
            if obj is not None:
                changes.append((channel, obj))
        return changes, errors

    def _failed(self, message: str) -> None:
        self.metrics.inc("watch_errors_total")
        if message != self.last_error:
            log.warning("safeflags serve: %s", message)
        self.last_error = message

    def _apply(self, channel: str, obj: Obj) -> None:
        try:
            ptr = Pointer.from_json(obj.data, channel)  # never relay a pointer that does not parse
        except CorruptPointer as exc:
            self._failed(str(exc))
            return
        self._store_etags[channel] = obj.etag
        etag = '"' + hashlib.sha256(obj.data).hexdigest()[:32] + '"'
        old = self._pointers.get(channel)
        self._pointers[channel] = (obj.data, etag, ptr)
        self._unknown.pop(channel, None)
        for folder in ("bundles", "manifests"):  # written before the pointer moved, so present now
            self._absent.pop(f"{folder}/{ptr.digest}.pb", None)
        if old is not None and old[1] == etag:
            return
        if old is not None:
            self.metrics.inc("publishes_seen_total", channel=channel)
        self.hub.publish(channel, event_of(ptr))
        for fn in list(self._listeners):
            try:
                fn(channel, ptr)
            except Exception:
                log.exception("safeflags serve: a channel listener failed")

    # -- reads ------------------------------------------------------------------------------------------------
    async def _read_new(self, channel: str) -> tuple[bytes, str, Pointer] | None:
        self.metrics.inc("store_reads_total", kind="channel")
        obj = await self.read(self.store.backend.get, pointer_key(channel))
        if obj is None:
            self._unknown[channel] = time.monotonic()
            self._unknown.move_to_end(channel)
            while len(self._unknown) > MAX_UNKNOWN:
                self._unknown.popitem(last=False)
            return None
        self._apply(channel, obj)
        return self._pointers.get(channel)

    async def _read_immutable(self, key: str, digest: str | None) -> bytes | None:
        self.metrics.inc("store_reads_total", kind=key.split("/", 1)[0])
        obj = await self.read(self.store.backend.get, key)  # a StoreError propagates: not an absence
        if obj is None:
            self._absent[key] = time.monotonic()
            self._absent.move_to_end(key)
            while len(self._absent) > MAX_ABSENT:
                self._absent.popitem(last=False)
            return None
        if digest is not None and "sha256-" + hashlib.sha256(obj.data).hexdigest() != digest:
            # Cached for a year by every client and CDN if served: refuse it instead.
            raise StoreError(f"{key} in {self.store.url} does not match its digest")
        self._objects.put(key, obj.data)
        return obj.data

    # -- tasks ------------------------------------------------------------------------------------------------
    def _spawn(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _quietly(self, coro: Coroutine[Any, Any, Any]) -> None:
        try:
            await coro
        except Exception as exc:
            log.info("safeflags serve: %s", exc)
