"""Push events are coalesced: however fast a server sends them, a client
reads the store at most once per `min_refresh_interval`, and the last event
of a flood is never lost.

The store is counted over a fixed number of events, never over a span of
time: with a gap longer than any test, a flood must cost no read at all
beyond the first load.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from safeflags.delivery import Client, DeliveryStatus
from tests.helpers.delivery import Publisher
from tests.helpers.local_http import LocalHTTP, QuietHandler
from tests.helpers.waiting import wait_until

EVENT = b'event: channel\ndata: {"channel": "prod"}\n\n'


class FloodServer(LocalHTTP):
    """Serves a store directory over HTTP, counts pointer reads, and sends
    `flood` events on each event stream, then one more per `more()`."""

    def __init__(self, root: Path, flood: int):
        self.pointer_reads = 0
        self.flood = flood
        self.extra = threading.Semaphore(0)
        self.stop = threading.Event()
        server = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                if self.path.startswith("/events"):
                    return server.events(self)
                if self.path == "/channels/prod.json":
                    server.pointer_reads += 1
                self.send_file(root / self.path.lstrip("/"))

        self.listen(Handler)

    def events(self, h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.end_headers()
        try:
            h.wfile.write(EVENT * self.flood)
            h.wfile.flush()
            while not self.stop.is_set():
                if self.extra.acquire(timeout=0.05):
                    h.wfile.write(EVENT)
                    h.wfile.flush()
        except OSError:
            pass
        h.close_connection = True

    def more(self) -> None:
        self.extra.release()

    def close(self) -> None:
        self.stop.set()
        super().close()


@pytest.fixture
def flood(pub: Publisher, tmp_path: Path) -> Iterator[FloodServer]:
    pub.publish(1)
    server = FloodServer(tmp_path / "store", flood=500)
    yield server
    server.close()


def status(client: Client) -> DeliveryStatus:
    st = client.delivery_status()
    assert st is not None
    return st


def test_a_flood_of_events_costs_no_read_within_the_gap(flood: FloodServer) -> None:
    with Client(store=flood.url, channel="prod", poll_interval=3600, min_refresh_interval=3600) as client:
        assert client.get_int("t.n", 0) == 1 and flood.pointer_reads == 1  # the first load
        wait_until(lambda: status(client).push_events >= 500, timeout=60, what="500 events received")
        # Without coalescing, each of the 500 events would have been a read of the store.
        assert flood.pointer_reads == 1
        assert status(client).healthy


def test_the_last_event_of_a_flood_is_not_lost(pub: Publisher, flood: FloodServer) -> None:
    with Client(store=flood.url, channel="prod", poll_interval=3600, min_refresh_interval=0.05) as client:
        wait_until(lambda: status(client).push_events >= 500, timeout=60, what="500 events received")
        pub.publish(2)
        flood.more()  # one more event, after the flood: it must still bring version 2
        wait_until(lambda: client.get_int("t.n", 0) == 2, timeout=60, what="version 2 by push")
        assert status(client).push_events == 501


def test_an_explicit_refresh_is_not_held_back_by_the_gap(flood: FloodServer) -> None:
    with Client(store=flood.url, channel="prod", poll_interval=3600, min_refresh_interval=3600) as client:
        wait_until(lambda: status(client).push_events >= 500, timeout=60, what="500 events received")
        assert client.refresh() is False  # asked for: done at once
        assert flood.pointer_reads == 2  # the only read besides the first load
