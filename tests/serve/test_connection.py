"""The connection layer of `safeflags serve` under attack: smuggling inputs, slow and idle
clients, a burst of connects, one host taking every connection. Raw sockets throughout."""
from __future__ import annotations

import contextlib
import select
import socket
import threading

import pytest

from tests.helpers.waiting import wait_until
from tests.serve.conftest import Serve
from tests.serve.wire import closed_by_server, connect, drip, read_all, request, response, statuses

SECOND = request("/channels/prod.json")  # what a smuggler hides in the first request's body

SMUGGLING = {
    "get_with_body": request("/healthz", f"Content-Length: {len(SECOND)}") + SECOND,
    "get_chunked_body": request("/healthz", "Transfer-Encoding: chunked") + b"0\r\n\r\n" + SECOND,
    "duplicate_length": request("/healthz", "Content-Length: 0", "Content-Length: 0") + SECOND,
    "plus_length": request("/healthz", "Content-Length: +5") + b"hello" + SECOND,
    "list_length": request("/healthz", "Content-Length: 5,5") + b"hello" + SECOND,
    "junk_length": request("/healthz", "Content-Length:  5x") + b"hello" + SECOND,
    "length_and_chunked": request("/channels/prod.json", "Content-Length: 5", "Transfer-Encoding: chunked",
                                  method="POST") + b"0\r\n\r\n" + SECOND,
    "obs_fold": request("/healthz", "X-Folded: a", " b") + SECOND,
}


@pytest.mark.parametrize("raw", SMUGGLING.values(), ids=SMUGGLING.keys())
def test_smuggling_inputs_are_refused_and_the_connection_closed(serve: Serve, raw: bytes) -> None:
    srv = serve()
    with connect(srv.port) as sock:
        sock.sendall(raw)
        answers = statuses(read_all(sock))  # returns only because the server closes
    assert answers == [400]


def test_keep_alive_serves_many_requests_on_one_connection(serve: Serve) -> None:
    srv = serve()
    with connect(srv.port) as sock:
        sock.sendall(request("/channels/prod.json"))
        status, headers, _ = response(sock)
        assert status == 200
        for _ in range(20):
            sock.sendall(request("/channels/prod.json", f"If-None-Match: {headers['etag']}"))
            assert response(sock)[0] == 304
        sock.sendall(request("/healthz") + request("/channels/prod.json"))  # pipelined
        assert [response(sock)[0] for _ in range(2)] == [200, 200]
    assert srv.state.metrics.value("connections_total") == 1


def test_responses_go_out_with_tcp_nodelay(serve: Serve) -> None:
    srv = serve()
    with connect(srv.port) as sock:
        sock.sendall(request("/healthz"))
        assert response(sock)[0] == 200
        [conn] = list(srv.guard.open)
        assert conn.transport is not None
        server_side = conn.transport.get_extra_info("socket")
        assert server_side.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1


def test_an_idle_connection_is_closed(serve: Serve) -> None:
    srv = serve(idle_timeout=0.3)
    with connect(srv.port, timeout=30) as quiet, connect(srv.port, timeout=30) as after_one:
        after_one.sendall(request("/healthz"))
        assert response(after_one)[0] == 200
        assert closed_by_server(quiet)  # never sent a byte
        assert closed_by_server(after_one)  # sent one request, then nothing
    wait_until(lambda: not srv.guard.open, what="no connection left open")


def test_a_slow_loris_is_cut_off_before_its_headers_end(serve: Serve) -> None:
    srv = serve(idle_timeout=0.5)
    head = request("/healthz", *(f"X-Pad-{i}: {'x' * 40}" for i in range(50)))
    with connect(srv.port, timeout=30) as sock:
        sent = drip(sock, head, gap=0.01)  # ~13 s for the whole head: far past the timeout
        assert sent < len(head)  # the server hung up mid-head
        assert closed_by_server(sock)


def test_a_burst_of_connects_waits_in_the_backlog(serve: Serve) -> None:
    """With the loop blocked, the kernel still completes every handshake: none
    is dropped for a full accept queue (stdlib's backlog of 5 dropped them)."""
    srv = serve(backlog=1024, max_connections_per_client=0)
    loop = srv._loop
    assert loop is not None
    release, blocked = threading.Event(), threading.Event()

    def block() -> None:
        blocked.set()
        release.wait(30)

    loop.call_soon_threadsafe(block)
    assert blocked.wait(10)
    socks = []
    try:
        for _ in range(300):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", srv.port))
            socks.append(s)
        pending = set(socks)
        deadline = 10.0
        while pending:
            _, writable, _ = select.select([], list(pending), [], deadline)
            assert writable, f"{len(pending)} of 300 connects never completed"
            for s in writable:
                assert s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
                pending.discard(s)
        release.set()
        for s in socks:
            s.setblocking(True)
            s.settimeout(10)
            s.sendall(request("/healthz", "Connection: close"))
        assert all(statuses(read_all(s)) == [200] for s in socks)
    finally:
        release.set()
        for s in socks:
            s.close()


def test_connections_per_client_address_are_bounded(serve: Serve) -> None:
    srv = serve(max_connections_per_client=5)
    held = [connect(srv.port) for _ in range(5)]
    try:
        for s in held:
            s.sendall(request("/healthz"))
            assert response(s)[0] == 200
        with connect(srv.port) as extra:
            assert statuses(read_all(extra)) == [429]  # told why, then closed
        assert srv.state.metrics.value("connections_refused_total", reason="per_client") == 1
        held.pop().close()
        wait_until(lambda: len(srv.guard.open) == 4, what="the closed connection released")
        with connect(srv.port) as again:
            again.sendall(request("/healthz"))
            assert response(again)[0] == 200
    finally:
        for s in held:
            s.close()


def test_a_malformed_request_is_counted_not_logged_as_an_error(serve: Serve,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    srv = serve()
    with connect(srv.port) as sock:
        sock.sendall(SMUGGLING["duplicate_length"])
        assert statuses(read_all(sock)) == [400]
    assert srv.state.metrics.value("requests_refused_total", reason="malformed") == 1
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


def test_stopping_ends_in_flight_connections(serve: Serve) -> None:
    srv = serve()
    sock = connect(srv.port)
    sock.sendall(request("/healthz"))
    assert response(sock)[0] == 200
    srv.close()
    assert closed_by_server(sock)
    sock.close()
    with pytest.raises(OSError):
        connect(srv.port, timeout=2)


def test_a_request_body_must_arrive_within_the_read_timeout(serve: Serve) -> None:
    srv = serve(read_timeout=0.3)
    with connect(srv.port, timeout=30) as sock:
        sock.sendall(request("/ofrep/v1/evaluate/flags", "Content-Length: 1000", method="POST") + b"{")
        assert statuses(read_all(sock)) == [408]  # never sent the rest: answered, then closed


def test_a_request_body_is_bounded(serve: Serve) -> None:
    # The server answers 413 and keeps the connection until it is idle for idle_timeout (15 s by default);
    # only that close ends the read of everything it sent, so a shorter one ends the test sooner.
    srv = serve(idle_timeout=0.5)
    size = (1 << 20) + 1
    with connect(srv.port, timeout=30) as sock:
        sock.sendall(request("/ofrep/v1/evaluate/flags", f"Content-Length: {size}", method="POST"))
        with contextlib.suppress(OSError):  # the server may hang up while the body is still going
            sock.sendall(b"x" * size)
        assert statuses(read_all(sock)) == [413]
