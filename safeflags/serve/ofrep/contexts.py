"""Specialised evaluators per static context, LRU-bounded, rebuilt from the
previous ones when the channel moves."""
from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from safeflags.sdk.evaluator import Evaluator
from safeflags.sdk.kernel.errors import BundleError
from safeflags.sdk.snapshot import Snapshot
from safeflags.serve.ofrep.protocol import Catalog, Request
from safeflags.store import Pointer

log = logging.getLogger("safeflags.serve")
RETRY_FAILED = 5.0
"""Seconds before a bundle that could not be loaded is tried again (until then the last good one serves)."""
MAX_FAILED = 16

class MetricsLike(Protocol):
    def inc(self, name: str, amount: int = 1, **labels: str) -> None: ...


class StateLike(Protocol):
    """What `safeflags serve` offers its routes (safeflags.serve.state.ServeState)."""

    @property
    def metrics(self) -> MetricsLike: ...

    def pointer(self, channel: str) -> tuple[bytes, str, Pointer] | None: ...

    async def bundle(self, digest: str) -> bytes | None: ...

    def add_listener(self, fn: Callable[[str, Pointer], None]) -> None: ...


class Contexts:
    """Specialised evaluators of one channel, one per distinct static context, LRU-bounded."""

    def __init__(self, state: StateLike, channel: str, *, targeting_key: str, pinned: Mapping[str, object],
                 max_contexts: int):
        self.state, self.channel, self.targeting_key = state, channel, targeting_key
        self.pinned = dict(pinned)
        self.max_contexts = max_contexts
        self.entries: OrderedDict[str, Evaluator] = OrderedDict()
        self.statics: dict[str, dict[str, object]] = {}
        self.building: dict[str, asyncio.Future[Any]] = {}  # static key or digest -> the build under way
        self.catalogs: dict[str, Catalog] = {}  # digest -> catalog; the current one only
        self.base: Evaluator | None = None  # the one for contexts that name no static dimension
        self.failed: dict[str, float] = {}  # digest -> when it could not be loaded (monotonic)

    def digest(self) -> str | None:
        known = self.state.pointer(self.channel)
        return known[2].digest if known is not None else None

    async def usable(self, digest: str) -> tuple[str, Catalog]:
        """The bundle to answer from: `digest`, else (when it cannot be loaded) the
        last one that could, as a Python process keeps its snapshot when a new
        bundle is bad. BundleError when there is none."""
        failed = self.failed.get(digest)
        if failed is None or time.monotonic() - failed > RETRY_FAILED:
            try:
                return digest, await self.catalog(digest)
            except BundleError as exc:
                if len(self.failed) >= MAX_FAILED:
                    self.failed.clear()
                self.failed[digest] = time.monotonic()
                log.warning("safeflags serve: OFREP cannot load bundle %s (retried in %.0f s): %s",
                            digest, RETRY_FAILED, exc)
        for good, catalog in self.catalogs.items():
            return good, catalog
        raise BundleError(f"bundle {digest} cannot be loaded and no earlier one was")

    async def catalog(self, digest: str) -> Catalog:
        found = self.catalogs.get(digest)
        if found is not None:
            return found
        pending = self.building.get(digest)
        if pending is None:
            pending = self.building[digest] = asyncio.ensure_future(self._catalog(digest))
            pending.add_done_callback(functools.partial(self._built, digest))
        return await asyncio.shield(pending)

    def _built(self, key: str, _done: asyncio.Future[Any]) -> None:
        self.building.pop(key, None)

    async def _catalog(self, digest: str) -> Catalog:
        # The catalog is the bundle's: read it from the snapshot that serves requests
        # naming no static dimension, which every digest needs anyway.
        base = await self._build(digest, self.pinned, self.base.snapshot if self.base is not None else None)
        catalog = Catalog(base, self.targeting_key, self.pinned)
        self.catalogs = {digest: catalog}
        key = json.dumps(sorted(catalog.pinned.items()), separators=(",", ":"))
        self.base = Evaluator(base)
        self._keep(key, dict(catalog.pinned), self.base)
        return catalog

    async def evaluator(self, digest: str, request: Request) -> Evaluator:
        key = request.static_key
        found = self.entries.get(key)
        if found is not None and found.snapshot.digest == digest:
            self.entries.move_to_end(key)
            return found
        pending = self.building.get(key)
        if pending is None:
            pending = self.building[key] = asyncio.ensure_future(self._specialise(digest, key, request.static, found))
            pending.add_done_callback(functools.partial(self._built, key))
        return await asyncio.shield(pending)

    async def _specialise(self, digest: str, key: str, static: dict[str, object],
                          found: Evaluator | None) -> Evaluator:
        snapshot = await self._build(digest, static, found.snapshot if found is not None else None)
        # A new evaluator, never a swap: a bulk answer running in a thread keeps the
        # one snapshot it started with, and each (bundle, context) reports its errors once.
        evaluator = Evaluator(snapshot)
        self._keep(key, static, evaluator)
        return evaluator

    def _keep(self, key: str, static: dict[str, object], evaluator: Evaluator) -> None:
        self.entries[key] = evaluator
        self.statics[key] = static
        self.entries.move_to_end(key)
        while len(self.entries) > self.max_contexts:
            old, _ = self.entries.popitem(last=False)
            self.statics.pop(old, None)
            self.state.metrics.inc("ofrep_contexts_evicted_total")

    async def _build(self, digest: str, static: dict[str, object], previous: Snapshot | None) -> Snapshot:
        data = await self.state.bundle(digest)
        if data is None:
            raise BundleError(f"bundle {digest} is not in the store")
        loop = asyncio.get_running_loop()
        # Parsing and indexing take milliseconds to tens of them: off the event loop.
        snapshot = await loop.run_in_executor(None, lambda: Snapshot.from_bytes(data, static=static, digest=digest,
                                                                                previous=previous))
        self.state.metrics.inc("ofrep_snapshots_built_total")
        return snapshot

    async def refresh(self, digest: str) -> None:
        """Rebuild the cached contexts for a new bundle, most recently used first,
        so the first request after a publish rarely waits for one."""
        try:
            usable, catalog = await self.usable(digest)
            for key in reversed(list(self.entries)):
                if digest != self.digest():
                    return  # moved again: the next refresh does it
                static = self.statics.get(key)
                if static is not None:
                    await self.evaluator(usable, catalog.request(static))
        except Exception as exc:  # the next request for a context retries its own build
            log.warning("safeflags serve: OFREP could not refresh for bundle %s: %s: %s",
                        digest, type(exc).__name__, exc)
