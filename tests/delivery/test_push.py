"""Push: the SSE stream from `safeflags serve` wakes the client at once; with
no stream (a plain CDN) or a dropped one, polling carries on."""
from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from safeflags.delivery import Client
from safeflags.serve import FlagServer
from safeflags.store import open_store
from tests.helpers.delivery import Publisher
from tests.helpers.waiting import wait_until


def _serves(client: Client, n: int) -> Callable[[], bool]:
    """Whether the client serves version n: a predicate bound to n itself, not to a loop variable."""
    return lambda: client.get_int("t.n", 0) == n


def test_push_beats_a_long_poll_interval(pub: Publisher, server: FlagServer) -> None:
    with Client(store=server.url, channel="prod", poll_interval=60) as client:
        wait_until(lambda: client.delivery_status().push == "connected", what="stream")  # type: ignore[union-attr]
        for n in (2, 3):
            pub.publish(n)
            wait_until(_serves(client, n), timeout=3, what=f"version {n} by push")


def test_stream_drop_falls_back_to_polling_and_reconnects(pub: Publisher, tmp_path: Path) -> None:
    pub.publish(1)
    srv = FlagServer(open_store(pub.url), watch_interval=0.05, heartbeat=0.5).start()
    port = urllib.parse.urlsplit(srv.url).port
    with Client(store=srv.url, channel="prod", poll_interval=0.2, timeout=1) as client:
        wait_until(lambda: client.delivery_status().push == "connected", what="stream")  # type: ignore[union-attr]
        srv.close()
        wait_until(lambda: client.delivery_status().push == "disconnected", what="drop noticed")  # type: ignore[union-attr]
        srv = FlagServer(open_store(pub.url), port=port, watch_interval=0.05, heartbeat=0.5).start()
        pub.publish(2)
        wait_until(lambda: client.get_int("t.n", 0) == 2, what="version 2 after the drop")
        wait_until(lambda: client.delivery_status().push == "connected", what="reconnected")  # type: ignore[union-attr]
    srv.close()


@pytest.fixture
def static_site(pub: Publisher, tmp_path: Path) -> Iterator[str]:
    """The store directory behind a plain static web server: no /events."""
    pub.publish(1)
    root = str(tmp_path / "store")

    class Quiet(SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):  # type: ignore[no-untyped-def]
            super().__init__(*a, directory=root, **kw)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    t.join()


def test_plain_static_http_polls(pub: Publisher, static_site: str) -> None:
    with Client(store=static_site, channel="prod", poll_interval=0.1) as client:
        assert client.get_int("t.n", 0) == 1
        wait_until(lambda: client.delivery_status().push == "unsupported", what="no stream")  # type: ignore[union-attr]
        pub.publish(2)
        wait_until(lambda: client.get_int("t.n", 0) == 2, what="version 2 by polling")


def test_server_serves_etags_and_listings(pub: Publisher, server: FlagServer) -> None:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", urllib.parse.urlsplit(server.url).port, timeout=5)
    conn.request("GET", "/channels/prod.json")
    resp = conn.getresponse()
    body, etag = resp.read(), resp.getheader("ETag")
    assert resp.status == 200 and json.loads(body)["version"] == 1 and etag
    conn.request("GET", "/channels/prod.json", headers={"If-None-Match": etag})
    resp = conn.getresponse()
    resp.read()
    assert resp.status == 304
    digest = json.loads(body)["digest"]
    conn.request("GET", f"/bundles/{digest}.pb")
    resp = conn.getresponse()
    assert resp.status == 200 and "immutable" in resp.getheader("Cache-Control", "")
    resp.read()
    conn.request("GET", "/channels/nope.json")
    resp = conn.getresponse()
    resp.read()
    assert resp.status == 404
    assert open_store(server.url).channels() == ["prod"]
    assert [r.version for r in open_store(server.url).history("prod")] == [1]
    pub.publish(2)
    pub.store.rollback("prod")
    assert [e.action for e in open_store(server.url).events("prod")] == ["rollback"]
