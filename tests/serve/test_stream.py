"""The event stream: fan-out to many subscribers, the bounds on what one request may ask,
the negative cache, and a slow reader that must not grow the server's memory."""
from __future__ import annotations

import select
import socket
import time
from collections.abc import Callable

from safeflags.serve.stream import HIGH_WATER
from safeflags.store import BundleStore
from tests.helpers.delivery import Publisher
from tests.helpers.waiting import wait_until
from tests.serve.conftest import Serve, Watched, on_loop
from tests.serve.wire import closed_by_server, connect, read_all, request, response, statuses


def subscribe(port: int, *channels: str, rcvbuf: int | None = None) -> socket.socket:
    sock = socket.socket()
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # before connect: it sets the window
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    sock.sendall(request("/events?" + "&".join(f"channel={c}" for c in channels)))
    return sock


def read_until(socks: list[socket.socket], done: Callable[[bytes], bool], timeout: float = 30) -> dict[int, bytes]:
    """Read every stream until done(what it sent) holds for each; fails past the timeout."""
    got = {s.fileno(): b"" for s in socks}
    waiting = {s.fileno(): s for s in socks}
    end = time.monotonic() + timeout
    while waiting:
        assert time.monotonic() < end, f"{len(waiting)} of {len(socks)} streams never got there"
        readable, _, _ = select.select(list(waiting.values()), [], [], 1.0)
        for s in readable:
            data = s.recv(65536)
            assert data, "a stream ended early"
            got[s.fileno()] += data
            if done(got[s.fileno()]):
                del waiting[s.fileno()]
    return got


def test_a_publish_reaches_every_one_of_200_subscribers(pub: Publisher, serve: Serve) -> None:
    srv = serve()
    socks = [subscribe(srv.port, "prod") for _ in range(200)]
    try:
        first = read_until(socks, lambda b: b'"version": 1' in b)
        assert all(b.startswith(b"HTTP/1.1 200") and b"text/event-stream" in b for b in first.values())
        wait_until(lambda: len(srv.state.hub.all) == 200, what="200 subscribers")
        pub.publish(2)
        read_until(socks, lambda b: b'"version": 2' in b)
        wait_until(lambda: srv.state.metrics.value("events_sent_total") == 400, what="400 events counted")
    finally:
        for s in socks:
            s.close()
    wait_until(lambda: not srv.state.hub.all, what="subscribers gone once their clients went")


def test_channels_per_stream_are_bounded_and_names_checked(serve: Serve) -> None:
    srv = serve(max_channels=4)
    for query, want in ((["a", "b", "c", "d", "e"], 400), (["Bad/Name"], 400), ([], 400)):
        with connect(srv.port) as sock:
            sock.sendall(request("/events?" + "&".join(f"channel={c}" for c in query)))
            assert response(sock)[0] == want, query
    with subscribe(srv.port, "prod", "a", "b", "c") as sock:  # four is fine; three unknown
        read_until([sock], lambda b: b'"version": 1' in b)


def test_unknown_channels_are_read_from_the_store_once_per_interval(
        watched: tuple[Watched, BundleStore], serve: Serve) -> None:
    backend, store = watched
    srv = serve(store=store, negative_ttl=3600, list_interval=3600)
    ghosts = [f"ghost-{i}" for i in range(16)]
    socks = [subscribe(srv.port, *ghosts) for _ in range(10)]
    try:
        wait_until(lambda: len(srv.state.hub.all) == 10, what="10 streams")
        for _ in range(10):
            with connect(srv.port) as sock:
                sock.sendall(request("/channels/ghost-0.json"))
                assert response(sock)[0] == 404
        assert {backend.reads[f"channels/{g}.json"] for g in ghosts} == {1}
    finally:
        for s in socks:
            s.close()


def test_a_channel_created_later_reaches_its_waiting_subscribers(pub: Publisher, serve: Serve) -> None:
    srv = serve(list_interval=0.1, negative_ttl=0.1)
    with subscribe(srv.port, "beta") as sock:
        wait_until(lambda: len(srv.state.hub.all) == 1, what="subscribed")
        pub.store.publish(pub.store.bundle(pub.store.pointer("prod").digest), "beta")
        read_until([sock], lambda b: b'"channel": "beta"' in b)


def test_a_reader_that_does_not_read_is_coalesced_then_dropped(serve: Serve) -> None:
    srv = serve(write_timeout=0.5)
    sock = subscribe(srv.port, "prod", rcvbuf=4096)
    try:
        read_until([sock], lambda b: b'"version": 1' in b)
        [sub] = on_loop(srv, lambda: list(srv.state.hub.all))
        big = b"event: channel\ndata: " + b"x" * 10_000 + b"\n\n"
        seen: list[tuple[int, int]] = []
        blocked = 0
        while len(seen) < 1000 and blocked < 100:  # until every buffer on the way is full, then 100 more
            seen.append(on_loop(srv, lambda: (srv.state.hub.publish("prod", big),
                                              len(sub.pending), sub.transport.get_write_buffer_size())[1:]))
            blocked += bool(blocked or seen[-1][0])
        assert blocked == 100, "the stream never blocked"
        # Only the latest event is kept while blocked, and the transport buffer stays near its mark.
        assert max(pending for pending, _ in seen) <= 1
        assert max(buffered for _, buffered in seen) <= HIGH_WATER + 2 * len(big)
        wait_until(lambda: srv.state.metrics.value("subscribers_dropped_total") == 1, what="the stream dropped")
        wait_until(lambda: not srv.state.hub.all, what="its subscriber gone")
        assert closed_by_server(sock)
    finally:
        sock.close()


def test_heartbeats_keep_an_idle_stream_visibly_alive(serve: Serve) -> None:
    srv = serve(heartbeat=0.05)
    with subscribe(srv.port, "prod") as sock:
        read_until([sock], lambda b: b.count(b": ping") >= 3)


def test_close_ends_every_stream_cleanly(serve: Serve) -> None:
    srv = serve()
    socks = [subscribe(srv.port, "prod") for _ in range(5)]
    read_until(socks, lambda b: b'"version": 1' in b)
    wait_until(lambda: len(srv.state.hub.all) == 5, what="5 streams")
    srv.close()
    for s in socks:
        assert read_all(s).endswith(b"0\r\n\r\n")  # the last chunk: the body ended, not cut
        s.close()


def test_a_stream_is_one_request_refused_for_a_body(serve: Serve) -> None:
    srv = serve()
    with connect(srv.port) as sock:
        sock.sendall(request("/events?channel=prod", "Content-Length: 2") + b"{}")
        assert statuses(read_all(sock)) == [400]
