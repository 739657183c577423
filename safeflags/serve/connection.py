"""One client connection: aiohttp's request handler plus what a push server needs of it.

- a bound on concurrent connections per client address: one beyond it gets a
  429 written straight away and is closed before any request is parsed, so a
  single host cannot take every descriptor;
- `TCP_NODELAY` set explicitly (asyncio sets it too; a response is one write
  either way, so no Nagle delay);
- its write pauses tracked, so an event stream learns when a slow reader's
  buffer drained instead of writing into it without bound.

Idle and header timeouts are aiohttp's keep-alive timer: it starts when a
connection opens and again when a response ends, and closes the connection if
no *complete* request head has arrived when it fires, so a client that sends
nothing and one that drips a header byte by byte are both cut off.
"""
from __future__ import annotations

import asyncio
import contextlib
import socket
from collections import Counter
from collections.abc import Callable
from typing import Any

from aiohttp import hdrs
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse
from aiohttp.web_server import Server

from safeflags.serve.metrics import Metrics

_BUSY = b"too many connections from this address\n"
SERVER = "safeflags"
"""The Server header of every answer: naming the HTTP stack and its version only helps an attacker."""
REFUSED = (b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
           b"Retry-After: 1\r\nConnection: close\r\nServer: %s\r\n\r\n%s" % (len(_BUSY), SERVER.encode(), _BUSY))


class Guard:
    """Counts open connections, per client address and in all."""

    def __init__(self, per_client: int, metrics: Metrics):
        self.per_client = per_client  # 0: no bound
        self.metrics = metrics
        self.by_address: Counter[str] = Counter()
        self.open: set[Connection] = set()
        metrics.gauge("connections", lambda: len(self.open))

    def admit(self, conn: Connection, address: str) -> bool:
        if self.per_client and self.by_address[address] >= self.per_client:
            self.metrics.inc("connections_refused_total", reason="per_client")
            return False
        self.by_address[address] += 1
        self.open.add(conn)
        self.metrics.inc("connections_total")
        return True

    def release(self, conn: Connection, address: str) -> None:
        if conn in self.open:
            self.open.discard(conn)
            self.by_address[address] -= 1
            if self.by_address[address] <= 0:
                del self.by_address[address]


class Connection(RequestHandler):
    def __init__(self, manager: Server, *, loop: asyncio.AbstractEventLoop, guard: Guard, **kwargs: Any):
        super().__init__(manager, loop=loop, **kwargs)
        self.guard = guard
        self.address = ""
        self.admitted = False
        # Set by an event stream: told when its buffer drained and when the client went.
        self.on_drain: Callable[[], None] | None = None
        self.on_lost: Callable[[], None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        self.address = str(peer[0]) if isinstance(peer, tuple) else str(peer)
        if not self.guard.admit(self, self.address):
            assert isinstance(transport, asyncio.Transport)
            transport.write(REFUSED)
            transport.close()
            return
        self.admitted = True
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)

    def connection_lost(self, exc: BaseException | None) -> None:
        if not self.admitted:
            return  # refused: aiohttp never saw it
        self.guard.release(self, self.address)
        super().connection_lost(exc)
        if self.on_lost is not None:
            self.on_lost()

    def data_received(self, data: bytes) -> None:
        if self.admitted:
            super().data_received(data)

    def handle_error(self, request: BaseRequest, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> StreamResponse:
        # Answers to requests that never reached the app (malformed ones) skip its on_response_prepare.
        resp = super().handle_error(request, status, exc, message)
        resp.headers[hdrs.SERVER] = SERVER
        return resp

    def log_exception(self, *args: Any, **kw: Any) -> None:
        if isinstance(kw.get("exc_info"), HttpProcessingError):
            # A malformed request (answered 400, connection closed) is the client's fault: counted, not
            # logged as our error, or anyone could fill the logs with tracebacks.
            self.guard.metrics.inc("requests_refused_total", reason="malformed")
            self.logger.debug(*args, **kw)
            return
        super().log_exception(*args, **kw)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self.on_drain is not None:
            self.on_drain()
