"""A store at version 1 and `safeflags serve` over it with small timeouts, started and stopped per test."""
from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from safeflags.serve import FlagServer
from safeflags.store import Backend, BundleStore, Obj, ObjectInfo, StoreUnavailable, open_store
from tests.helpers.delivery import Publisher

Serve = Callable[..., FlagServer]


def on_loop(srv: FlagServer, fn: Callable[[], Any]) -> Any:
    """fn() run on the server's event loop (where its state lives), its result here."""
    async def call() -> Any:
        return fn()
    assert srv._loop is not None
    return asyncio.run_coroutine_threadsafe(call(), srv._loop).result(10)


@pytest.fixture
def serve(pub: Publisher) -> Iterator[Serve]:
    """serve(**options) -> a started FlagServer over `pub` (version 1 published), closed after the test."""
    pub.publish(1)
    started: list[FlagServer] = []

    def start(**options: Any) -> FlagServer:
        options = {"watch_interval": 0.05, "heartbeat": 30.0, **options}
        srv = FlagServer(options.pop("store", None) or open_store(pub.url), **options).start()
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.close()


class Watched:
    """A backend wrapper that counts reads per key and can be made to fail, for a store whose
    behaviour a test decides."""

    def __init__(self, backend: Backend):
        self.backend = backend
        self.reads: Counter[str] = Counter()
        self.down = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, name)

    def get(self, key: str, if_none_match: str | None = None) -> Obj | None:
        self.reads[key] += 1
        if self.down:
            raise StoreUnavailable("the store is down (test)")
        return self.backend.get(key, if_none_match=if_none_match)

    def list(self, prefix: str) -> list[ObjectInfo]:
        if self.down:
            raise StoreUnavailable("the store is down (test)")
        return self.backend.list(prefix)


@pytest.fixture
def watched(pub: Publisher) -> tuple[Watched, BundleStore]:
    backend = Watched(open_store(pub.url).backend)
    return backend, BundleStore(backend)
