"""What each static context is answered from (an Evaluator for single flags, a
Table for bulk answers), over one parse per bundle, LRU-bounded, rebuilt in the
background when the channel moves."""
from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, cast

from safeflags.sdk.evaluator import Evaluator
from safeflags.sdk.kernel.errors import BundleError
from safeflags.sdk.snapshot import Snapshot
from safeflags.serve.ofrep.protocol import Catalog, Request
from safeflags.serve.ofrep.table import Checked, Table
from safeflags.store import Pointer

log = logging.getLogger("safeflags.serve")
RETRY_FAILED = 5.0
"""Seconds before a bundle that could not be loaded is tried again (until then the last good one serves)."""
MAX_FAILED = 16
REFRESH_TABLES = 8
"""Bulk tables rebuilt in the background after a publish, most recently used first."""

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
    """What one channel answers from: per bundle, one parse and its flags' checks, shared by
    every static context; per distinct static context (each LRU-bounded by `max_contexts`),
    an Evaluator for single flags, which prepares only the flags asked for, and a Table
    for bulk answers, which generates no code (table.py)."""

    def __init__(self, state: StateLike, channel: str, *, targeting_key: str, pinned: Mapping[str, object],
                 max_contexts: int):
        self.state, self.channel, self.targeting_key = state, channel, targeting_key
        self.pinned = dict(pinned)
        self.max_contexts = max_contexts
        self.entries: OrderedDict[str, Evaluator] = OrderedDict()
        self.tables: OrderedDict[str, Table] = OrderedDict()
        self.statics: dict[str, dict[str, object]] = {}
        self.building: dict[str, asyncio.Future[Any]] = {}  # build key -> the build under way
        self.catalogs: dict[str, Catalog] = {}  # digest -> catalog; the current one only
        self.checked: dict[str, Checked] = {}  # digest -> its flags' checks and parse; the current one only
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
        return cast(Catalog, await self._once(f"bundle:{digest}", lambda: self._catalog(digest)))

    async def _once(self, key: str, build: Callable[[], Awaitable[object]]) -> object:
        """`build()`, shared by every request that asks for `key` while it runs."""
        pending = self.building.get(key)
        if pending is None:
            pending = self.building[key] = asyncio.ensure_future(build())
            pending.add_done_callback(functools.partial(self._built, key))
        return await asyncio.shield(pending)

    def _built(self, key: str, _done: asyncio.Future[Any]) -> None:
        self.building.pop(key, None)

    async def _catalog(self, digest: str) -> Catalog:
        data = await self.state.bundle(digest)
        if data is None:
            raise BundleError(f"bundle {digest} is not in the store")
        pinned = self.pinned
        loop = asyncio.get_running_loop()
        # The one parse of this bundle (tens of milliseconds to a few hundred): off the event loop.
        base = await loop.run_in_executor(None, lambda: Snapshot.from_bytes(data, static=pinned, digest=digest))
        self.state.metrics.inc("ofrep_snapshots_built_total")
        catalog = Catalog(base, self.targeting_key, pinned)
        self.catalogs = {digest: catalog}
        self.checked = {digest: Checked(base)}
        key = json.dumps(sorted(catalog.pinned.items()), separators=(",", ":"))
        self.base = Evaluator(base)
        self._keep(self.entries, key, dict(catalog.pinned), self.base)
        return catalog

    async def evaluator(self, digest: str, request: Request) -> Evaluator:
        """The Evaluator of `request`'s static context, for single flags."""
        key = request.static_key
        found = self.entries.get(key)
        if found is not None and found.snapshot.digest == digest:
            self.entries.move_to_end(key)
            return found
        static = request.static
        return cast(Evaluator, await self._once(f"evaluator:{digest}:{key}",
                                                lambda: self._specialise(digest, key, static, found)))

    async def _specialise(self, digest: str, key: str, static: dict[str, object],
                          found: Evaluator | None) -> Evaluator:
        checked = self._checked(digest)
        hot = [k for fast in found.snapshot.fast.values() for k in fast] if found is not None else []
        loop = asyncio.get_running_loop()
        # Over the bundle's one parse: a context holds its index and the flags it prepared, no
        # parse of its own. What the previous bundle's snapshot had prepared is prepared again.
        snapshot = await loop.run_in_executor(None, _specialised, checked, static, hot)
        self.state.metrics.inc("ofrep_snapshots_built_total")
        # A new evaluator, never a swap: each (bundle, context) reports its errors once.
        evaluator = Evaluator(snapshot)
        self._keep(self.entries, key, static, evaluator)
        return evaluator

    async def table(self, digest: str, request: Request) -> Table:
        """The Table of `request`'s static context, for bulk answers."""
        key = request.static_key
        found = self.tables.get(key)
        if found is not None and found.digest == digest:
            self.tables.move_to_end(key)
            return found
        static = request.static
        return cast(Table, await self._once(f"table:{digest}:{key}", lambda: self._tabulate(digest, key, static)))

    async def _tabulate(self, digest: str, key: str, static: dict[str, object]) -> Table:
        checked = self._checked(digest)
        loop = asyncio.get_running_loop()
        table = await loop.run_in_executor(None, Table, checked, static)
        self.state.metrics.inc("ofrep_tables_built_total")
        self._keep(self.tables, key, static, table)
        return table

    def _checked(self, digest: str) -> Checked:
        checked = self.checked.get(digest)
        if checked is None:  # the channel moved on while this request waited: answer from the newest
            raise BundleError(f"bundle {digest} is no longer the one served")
        return checked

    def _keep(self, cache: OrderedDict[str, Any], key: str, static: dict[str, object], value: object) -> None:
        cache[key] = value
        self.statics[key] = static
        cache.move_to_end(key)
        while len(cache) > self.max_contexts:
            old, _ = cache.popitem(last=False)
            if old not in self.entries and old not in self.tables:
                self.statics.pop(old, None)
            self.state.metrics.inc("ofrep_contexts_evicted_total")

    async def refresh(self, digest: str) -> None:
        """Rebuild the cached contexts for a new bundle, most recently used first,
        so the first request after a publish rarely waits for one. Tables are
        rebuilt for the REFRESH_TABLES most recent contexts only (each costs a
        specialisation of every flag); the others are rebuilt when asked."""
        try:
            usable, catalog = await self.usable(digest)
            for key in reversed(list(self.entries)):
                if digest != self.digest():
                    return  # moved again: the next refresh does it
                static = self.statics.get(key)
                if static is not None:
                    await self.evaluator(usable, catalog.request(static))
            for key in list(reversed(self.tables))[:REFRESH_TABLES]:
                if digest != self.digest():
                    return
                static = self.statics.get(key)
                if static is not None:
                    await self.table(usable, catalog.request(static))
        except Exception as exc:  # the next request for a context retries its own build
            log.warning("safeflags serve: OFREP could not refresh for bundle %s: %s: %s",
                        digest, type(exc).__name__, exc)


def _specialised(checked: Checked, static: Mapping[str, object], hot: list[str]) -> Snapshot:
    snapshot = Snapshot(checked.message, static=static, digest=checked.snapshot.digest)
    snapshot.warm([k for k in hot if k in snapshot.flags])
    return snapshot
