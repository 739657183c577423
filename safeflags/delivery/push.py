"""The push side of delivery: a Server-Sent Events stream from `safeflags
serve` that wakes the poller the moment a channel moves.

The stream only says "look now"; the bundle still comes through the same
conditional fetch and the same checks as a poll, so a forged or replayed
event can at worst cause one extra request, and a flood of them no more than
one per `min_refresh_interval` (the poller coalesces wakes). While the stream
is down the poller goes on at its interval, and the listener reconnects with
backoff. A line longer than MAX_LINE drops the stream: a server sending
without a newline must not fill the memory.
"""
from __future__ import annotations

import contextlib
import http.client
import logging
import socket
import threading
import urllib.parse
from typing import Any, Protocol

log = logging.getLogger("safeflags")

# The server sends a comment line at least this often; a silent stream is dead.
READ_TIMEOUT = 45.0
MAX_LINE = 8192  # an event line is well under 200 bytes


class Subscriber(Protocol):
    """What the listener needs of the delivery that owns it (a Delivery);
    a protocol, so this module does not import the one that imports it."""

    channel: str
    url: str
    poll_interval: float
    backend: Any
    stop_event: threading.Event
    wake: threading.Event


class PushListener:
    def __init__(self, delivery: Subscriber, read_timeout: float = READ_TIMEOUT):
        self.delivery = delivery
        self.read_timeout = read_timeout
        self.state = "connecting"
        self.events = 0  # `channel` events received, for the status and tests
        self._conn: http.client.HTTPConnection | None = None
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()

    def start(self) -> threading.Thread:
        t = threading.Thread(target=self._run, name=f"safeflags-push-{self.delivery.channel}", daemon=True)
        t.start()
        return t

    def close(self) -> None:
        with self._lock:
            sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # unblocks the reader thread at once

    def _run(self) -> None:
        d = self.delivery
        backend: Any = d.backend
        path = backend.base_path + "/events?" + urllib.parse.urlencode({"channel": d.channel})
        delay = 0.25
        while not d.stop_event.is_set():
            try:
                conn = backend.connect(timeout=self.read_timeout)
                with self._lock:
                    self._conn = conn
                conn.request("GET", path, headers={"Accept": "text/event-stream", **backend.headers})
                with self._lock:
                    # Kept apart: http.client drops conn.sock once the response
                    # owns the socket, and close() must still reach it.
                    self._sock = conn.sock
                if d.stop_event.is_set():
                    return
                resp = conn.getresponse()
                if resp.status == 404:
                    self.state = "unsupported"
                    log.info("safeflags: %s has no event stream; polling every %ss",
                             d.url, d.poll_interval)
                    return
                if resp.status != 200:
                    raise OSError(f"HTTP {resp.status}")
                self.state = "connected"
                delay = 0.25
                d.wake.set()  # catch up with anything published while disconnected
                self._read(resp)
            except (OSError, http.client.HTTPException) as exc:
                if not d.stop_event.is_set():
                    log.debug("safeflags: event stream from %s dropped: %s", d.url, exc)
            finally:
                with self._lock:
                    conn, self._conn, self._sock = self._conn, None, None
                if conn is not None:
                    conn.close()
            if d.stop_event.is_set():
                return
            self.state = "disconnected"
            d.stop_event.wait(delay)
            delay = min(delay * 2, 30.0)

    def _read(self, resp: http.client.HTTPResponse) -> None:
        """Wake the poller on every `channel` event; ignore comments (heartbeats)."""
        event = ""
        while not self.delivery.stop_event.is_set():
            line = resp.readline(MAX_LINE + 1)
            if not line:
                raise OSError("stream closed by the server")
            if len(line) > MAX_LINE:
                raise OSError(f"event stream line longer than {MAX_LINE} bytes")
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            if text.startswith("event:"):
                event = text[6:].strip()
            elif text == "":
                if event == "channel":
                    self.events += 1
                    self.delivery.wake.set()
                event = ""
