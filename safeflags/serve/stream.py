"""The event streams (`GET /events?channel=...`) and the hub that fans channel moves out to them.

A channel move is written straight into each stream's transport from the
fan-out loop, so 10,000 subscribers cost 10,000 socket writes and no task
wake-ups. A stream whose client does not keep up stops being written to once
its transport buffer passes a small high-water mark: from then on it keeps only
the latest event per channel (an event says where a channel is now, so older
ones are worth nothing), and its own task writes them when the buffer drains.
If it does not drain within `write_timeout` the stream is closed; the client
reconnects and gets the current state. So a subscriber holds at most one
buffer (and a fixed kernel send buffer) plus one event per subscribed channel,
however slow it reads.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket

from safeflags.serve.connection import Connection
from safeflags.serve.metrics import Metrics
from safeflags.store import Pointer

log = logging.getLogger("safeflags.serve")

HIGH_WATER = 16 << 10
"""Bytes a stream's transport buffers before its events are coalesced instead of written."""
SEND_BUFFER = 64 << 10
"""The kernel's send buffer of a stream socket, fixed (no autotuning to megabytes): events are small,
and 10,000 slow readers must not each pin megabytes of kernel memory either."""
PING = b": ping\n\n"  # lets clients and proxies tell a quiet stream from a dead one


def event_of(ptr: Pointer) -> bytes:
    data = json.dumps({"channel": ptr.channel, "version": ptr.version, "digest": ptr.digest,
                       "pinned": ptr.pinned}, sort_keys=True)
    return f"event: channel\nid: {ptr.channel}:{ptr.version}\ndata: {data}\n\n".encode()


class EventStream:
    def __init__(self, channels: frozenset[str], conn: Connection, transport: asyncio.Transport, *,
                 chunked: bool, metrics: Metrics, write_timeout: float = 10.0):
        self.channels = channels
        self.conn = conn
        self.transport = transport
        self.chunked = chunked  # HTTP/1.1 without a length: each write is one chunk of the body
        self.metrics = metrics
        self.pending: dict[str, bytes] = {}  # channel -> its latest unsent event
        self.wake = asyncio.Event()
        self.started = False
        self.closed = False
        transport.set_write_buffer_limits(high=HIGH_WATER)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
                if hasattr(socket, "TCP_USER_TIMEOUT"):
                    # A client gone without a FIN never acknowledges the next heartbeat: the kernel
                    # drops the connection after this long instead of retrying for many minutes.
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(write_timeout * 1000))
        conn.on_drain = conn.on_lost = self.wake.set

    def _writable(self) -> bool:
        return self.started and not self.closed and not self.pending and not self.conn.writing_paused

    def _write(self, data: bytes, events: int) -> None:
        if self.transport.is_closing():
            self.close()
            return
        self.transport.write(b"%x\r\n%s\r\n" % (len(data), data) if self.chunked else data)
        self.metrics.inc("bytes_sent_total", len(data))
        if events:
            self.metrics.inc("events_sent_total", events)

    def send(self, channel: str, event: bytes) -> None:
        if self._writable():
            self._write(event, 1)
        elif not self.closed:
            self.pending[channel] = event  # replaces an older one for the same channel
            self.wake.set()

    def ping(self) -> None:
        if self._writable():
            self._write(PING, 0)

    async def run(self, write_timeout: float) -> None:
        """Write what piles up while the buffer is full; returns when the stream ends."""
        loop = asyncio.get_running_loop()
        self.started = True
        while not self.closed:
            if self.transport.is_closing():
                break
            if not self.pending:
                self.wake.clear()
                await self.wake.wait()
                continue
            deadline = loop.time() + write_timeout
            while self.conn.writing_paused and not self.closed and not self.transport.is_closing():
                remaining = deadline - loop.time()
                if remaining <= 0:
                    log.info("safeflags serve: closing a stream to %s that does not read", self.conn.address)
                    self.metrics.inc("subscribers_dropped_total")
                    self.transport.abort()  # close() would wait to flush a buffer nobody reads
                    self.closed = True
                    return
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), remaining)
            if self.pending and not self.closed and not self.conn.writing_paused:
                events, self.pending = self.pending, {}
                self._write(b"".join(events.values()), len(events))
        self.closed = True

    def close(self) -> None:
        self.closed = True
        self.wake.set()



class Hub:
    """Who listens to which channel; all of it on the event loop."""

    def __init__(self, metrics: Metrics):
        self.by_channel: dict[str, set[EventStream]] = {}
        self.all: set[EventStream] = set()
        metrics.gauge("subscribers", lambda: len(self.all))

    def add(self, sub: EventStream) -> None:
        self.all.add(sub)
        for channel in sub.channels:
            self.by_channel.setdefault(channel, set()).add(sub)

    def remove(self, sub: EventStream) -> None:
        self.all.discard(sub)
        for channel in sub.channels:
            subs = self.by_channel.get(channel)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self.by_channel[channel]

    def publish(self, channel: str, event: bytes) -> int:
        subs = list(self.by_channel.get(channel, ()))
        for sub in subs:
            sub.send(channel, event)
        return len(subs)

    def ping(self) -> None:
        for sub in list(self.all):
            sub.ping()

    def end_all(self) -> None:
        """Ends every stream's body cleanly (its handler returns), so clients reconnect without an error."""
        for sub in list(self.all):
            sub.close()
