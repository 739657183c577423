"""ServeState, what other routes (OFREP's) build on: pointers known or loading, bundles,
listeners on every move, and counters that land on /metrics."""
from __future__ import annotations

import asyncio
from typing import Any

from safeflags.store import Pointer
from tests.helpers.delivery import Publisher
from tests.helpers.waiting import wait_until
from tests.serve.conftest import Serve, on_loop


def test_pointer_starts_loading_a_channel_it_does_not_know_yet(pub: Publisher, serve: Serve) -> None:
    srv = serve(list_interval=3600)
    data = pub.store.bundle(pub.store.pointer("prod").digest)
    pub.store.publish(data, "late")  # after the server's first listing: unknown to it
    assert on_loop(srv, lambda: srv.state.pointer("late")) is None
    wait_until(lambda: on_loop(srv, lambda: srv.state.pointer("late")) is not None, what="loaded")
    body, etag, ptr = on_loop(srv, lambda: srv.state.pointer("late"))
    assert ptr.channel == "late" and ptr.version == 1 and etag.startswith('"') and b'"late"' in body


def test_bundle_listeners_and_metrics(pub: Publisher, serve: Serve) -> None:
    srv = serve()
    moves: list[tuple[str, int]] = []

    def listen(channel: str, ptr: Pointer) -> None:
        moves.append((channel, ptr.version))

    on_loop(srv, lambda: srv.state.add_listener(listen))
    pub.publish(2)
    wait_until(lambda: ("prod", 2) in moves, what="the listener told of version 2")
    digest = pub.store.pointer("prod").digest
    assert srv._loop is not None

    async def read(d: str) -> Any:
        return await srv.state.bundle(d)

    data = asyncio.run_coroutine_threadsafe(read(digest), srv._loop).result(10)
    assert data == pub.store.bundle(digest)
    assert asyncio.run_coroutine_threadsafe(read("sha256-" + "0" * 64), srv._loop).result(10) is None
    on_loop(srv, lambda: srv.state.metrics.inc("ofrep_evaluations_total", 3, kind="bulk"))
    assert 'safeflags_serve_ofrep_evaluations_total{kind="bulk"} 3' in srv.state.metrics.render().decode()
