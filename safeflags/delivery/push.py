"""The push side of delivery: a Server-Sent Events stream from `safeflags
serve` that wakes the poller the moment a channel moves.

The stream only says "look now"; the bundle still comes through the same
conditional fetch and the same checks as a poll, so a forged or replayed
event can at worst cause one extra request, and a flood of them no more than
one per `min_refresh_interval` (the poller coalesces wakes). While the stream
is down the poller goes on at its interval, and the listener reconnects after
a jittered, capped, exponential backoff (never sooner than the server's SSE
`retry:`), so a restarted server is not hit by all its clients at once. A line
longer than MAX_LINE drops the stream: a server sending without a newline must
not fill the memory. The stream has its own HTTP client: a held stream never
takes the connection a poll needs.
"""
from __future__ import annotations

import contextlib
import logging
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import httpx
from httpx_sse import EventSource, SSEError

from safeflags.store.errors import StoreError

log = logging.getLogger("safeflags")

# The server sends a comment line at least this often; a silent stream is dead.
READ_TIMEOUT = 45.0
MAX_LINE = 8192  # an event line is well under 200 bytes
# A server's `retry:` is honoured up to this: a hostile or broken one must not switch push off for good.
MAX_RETRY = 600.0


class Subscriber(Protocol):
    """What the listener needs of the delivery that owns it (a Delivery);
    a protocol, so this module does not import the one that imports it."""

    channel: str
    url: str
    poll_interval: float
    backend: Any
    stop_event: threading.Event
    wake: threading.Event


class Backoff:
    """Full jitter: attempt n waits `floor + uniform(0, min(cap, base * 2**n))`.
    Spread from the first attempt on, so clients that lost the same server at
    the same moment come back spread out; `floor` is the server's `retry:`."""

    def __init__(self, base: float = 0.5, cap: float = 30.0, rand: Callable[[], float] = random.random,
                 settle: float = 60.0):
        self.base = base
        self.cap = cap
        self.rand = rand
        # A stream that held this long was a working one: its drop starts the backoff afresh. Not sooner:
        # a server that accepts and hangs up at once must see its clients back off.
        self.settle = settle
        self.floor = 0.0
        self.attempt = 0

    def next(self) -> float:
        ceiling = min(self.cap, self.base * 2 ** min(self.attempt, 32))
        self.attempt += 1
        return self.floor + ceiling * self.rand()

    def reset(self) -> None:
        self.attempt = 0


class StreamTooLong(httpx.ReadError):
    """A line past MAX_LINE: the stream is dropped like a broken one."""


class LineBound(httpx.SyncByteStream):
    """The response body, refused once a line runs past `max_line` bytes:
    httpx-sse buffers a line without limit, so the bound sits under it."""

    def __init__(self, inner: httpx.SyncByteStream, max_line: int = MAX_LINE):
        self.inner = inner
        self.max_line = max_line

    def __iter__(self) -> Iterator[bytes]:
        run = 0  # bytes since the last line break, carried over chunks
        for chunk in self.inner:
            parts = chunk.replace(b"\r", b"\n").split(b"\n")
            longest = max([run + len(parts[0]), *(len(p) for p in parts[1:])])
            run = len(parts[-1]) if len(parts) > 1 else run + len(chunk)
            if longest > self.max_line:
                raise StreamTooLong(f"event stream line longer than {self.max_line} bytes")
            yield chunk

    def close(self) -> None:
        self.inner.close()


class PushListener:
    def __init__(self, delivery: Subscriber, read_timeout: float = READ_TIMEOUT, *,
                 backoff: Backoff | None = None):
        self.delivery = delivery
        self.read_timeout = read_timeout
        self.backoff = backoff or Backoff()
        self.state = "connecting"
        self.events = 0  # `channel` events received, for the status and tests
        self.connects = 0  # streams opened (answered 200)
        self.delays: list[float] = []  # the last few reconnect delays, for the status and tests
        self._stream: Any = None  # the httpcore network stream under the response being read
        self._lock = threading.Lock()

    def start(self) -> threading.Thread:
        t = threading.Thread(target=self._run, name=f"safeflags-push-{self.delivery.channel}", daemon=True)
        t.start()
        return t

    def close(self) -> None:
        """Unblock the reader at once: a shutdown wakes a thread blocked in recv, a close would not."""
        with self._lock:
            stream = self._stream
        sock = stream.get_extra_info("socket") if stream is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _trace(self, name: str, info: dict[str, Any]) -> None:
        # httpcore's trace hook hands over each network stream as it is made
        # (TCP, then TLS over it), before any response: close() can reach it
        # while the request is still waiting for its answer.
        if name.endswith((".connect_tcp.complete", ".start_tls.complete")):
            with self._lock:
                self._stream = info.get("return_value")
            if self.delivery.stop_event.is_set():
                self.close()

    def _run(self) -> None:
        d = self.delivery
        backend: Any = d.backend
        try:
            # No keep-alive: each stream dials its own connection, which close() can always reach.
            client: httpx.Client = backend.new_client(read_timeout=self.read_timeout, connections=1,
                                                      keepalive=False)
        except StoreError as exc:
            self.state = "disconnected"  # the poller, on the same settings, reports it as a fault
            log.debug("safeflags: no event stream from %s: %s", d.url, exc)
            return
        try:
            while not d.stop_event.is_set():
                outcome = self._connect(client, backend.url + "/events")
                if outcome == "unsupported" or d.stop_event.is_set():
                    return
                self.state = "disconnected"
                if outcome == "dropped" and hasattr(backend, "recycle"):
                    backend.recycle()  # the server may be gone: polls dial afresh too
                delay = self.backoff.next()
                self.delays = [*self.delays[-9:], delay]
                d.stop_event.wait(delay)
        finally:
            client.close()

    def _connect(self, client: httpx.Client, url: str) -> str:
        d = self.delivery
        opened: float | None = None
        try:
            with client.stream("GET", url, params={"channel": d.channel},
                               headers={"Accept": "text/event-stream", "Cache-Control": "no-store",
                                        # A compressed stream would be unbounded once inflated.
                                        "Accept-Encoding": "identity"},
                               extensions={"trace": self._trace}) as resp:
                if resp.status_code == 404 or not _is_event_stream(resp):
                    self.state = "unsupported"
                    log.info("safeflags: %s has no event stream; polling every %ss", d.url, d.poll_interval)
                    return "unsupported"
                if resp.status_code != 200:
                    raise httpx.HTTPStatusError(f"HTTP {resp.status_code}", request=resp.request, response=resp)
                self.state = "connected"
                self.connects += 1
                opened = time.monotonic()
                d.wake.set()  # catch up with anything published while disconnected
                assert isinstance(resp.stream, httpx.SyncByteStream)  # a sync client's
                resp.stream = LineBound(resp.stream)
                self._read(EventSource(resp))
        except (httpx.HTTPError, SSEError, OSError) as exc:
            if not d.stop_event.is_set():
                log.debug("safeflags: event stream from %s dropped: %s", d.url, exc)
        except Exception:  # a bug here must not end push for good: back off and try again
            log.exception("safeflags: event stream from %s failed", d.url)
        finally:
            if opened is not None and time.monotonic() - opened >= self.backoff.settle:
                self.backoff.reset()
            with self._lock:
                self._stream = None
        return "dropped" if opened is not None else "failed"

    def _read(self, source: EventSource) -> None:
        """Wake the poller on every `channel` event; comments (heartbeats) are skipped by the decoder."""
        for sse in source.iter_sse():
            if self.delivery.stop_event.is_set():
                return
            if sse.retry is not None and sse.retry >= 0:
                self.backoff.floor = min(sse.retry / 1000, MAX_RETRY)
            if sse.event == "channel":
                self.events += 1
                self.delivery.wake.set()
        if not self.delivery.stop_event.is_set():
            raise OSError("stream closed by the server")


def _is_event_stream(resp: httpx.Response) -> bool:
    """A 200 that is not an event stream is a CDN or web server answering for
    a path it does not have (an index page, say): no push there."""
    if resp.status_code != 200:
        return True  # judged by its status
    return resp.headers.get("Content-Type", "").partition(";")[0].strip() == "text/event-stream"
