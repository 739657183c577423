"""A fault-injecting HTTP proxy between a client and `safeflags serve`.

Each mode is one class of delivery fault; `mode = "ok"` passes everything
through. Faults that need a new bundle to bite (truncate, corrupt, wrong,
endless, huge, trickle, stall) touch bundle downloads only; faults about the
pointer (old_version, bad_signature, bloated) touch pointer reads only; the
rest (drop, reset, delay, 5xx) touch every request.

`only` narrows every fault to requests whose path starts with one of its
prefixes (e.g. ("/manifests/", "/chunks/"): the pieces of a bundle and not the
bundle itself), and makes the body faults damage those paths instead of
/bundles/ alone; every other request passes through untouched.
"""
from __future__ import annotations

import base64
import http.client
import json
import socket
import struct
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler

from tests.helpers.local_http import LocalHTTP, QuietHandler

MODES = {"ok", "drop", "reset", "delay", "trickle", "5xx", "truncate", "corrupt", "wrong", "old_version",
         "bad_signature", "stall", "endless", "huge", "bloated"}
HOLD = 30.0  # how long a delayed or stalled request waits unless the fault ends: past any client timeout
DRIP_GAP = 0.02  # seconds between two trickled bytes
TRICKLE_PADDING = 1_000_000  # bytes promised beyond the body: hours of trickle
HUGE = 1 << 40  # the Content-Length promised in "huge" mode: 1 TiB
BLOAT = 1 << 20  # bytes of JSON whitespace a "bloated" pointer carries: valid, and far past any pointer limit


class FaultProxy(LocalHTTP):
    def __init__(self, upstream: str):
        self.upstream = upstream
        self.mode = "ok"
        self.old_pointer: bytes | None = None  # served in old_version mode
        self.only: tuple[str, ...] | None = None  # path prefixes the fault is limited to (None: its default)
        # In "wrong" mode: the body served instead, by path prefix (e.g. another bundle's chunk); a path
        # with none gets its own bytes reversed.
        self.wrong: dict[str, bytes] = {}
        self.faulted = 0  # requests a fault other than "ok" applied to
        self.released = threading.Event()  # ends delays and stalls
        self.stalled = threading.Event()  # set once a stalled download has started
        self.requests = 0
        self.hung_up = threading.Event()  # set once a client hung up on an endless or huge body
        self.sent = 0  # body bytes sent in endless and huge modes
        proxy = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                proxy.requests += 1
                proxy.handle(self)

        self.listen(Handler, start=False)

    def start(self) -> FaultProxy:
        self.thread.start()
        return self

    def close(self) -> None:
        self.released.set()
        super().close()

    def set(self, mode: str) -> None:
        assert mode in MODES, mode
        if mode == "ok":
            self.released.set()
        else:
            self.released.clear()
            self.stalled.clear()
            self.hung_up.clear()
        self.mode = mode

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        mode = self.mode
        if self.only is not None and not h.path.startswith(self.only):
            mode = "ok"
        if mode != "ok":
            self.faulted += 1
        is_bundle = h.path.startswith(self.only if self.only is not None else ("/bundles/",))
        is_pointer = h.path.startswith("/channels/") and h.path.endswith(".json")
        if mode == "drop":
            h.close_connection = True
            h.connection.shutdown(2)
            return
        if mode == "reset":
            # An RST, not a FIN: no linger, and every reference to the socket closed now.
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            h.close_connection = True
            h.rfile.close()
            h.wfile.close()
            h.connection.close()
            return
        if mode == "delay":
            self.released.wait(HOLD)
        if mode == "5xx":
            return self.reply(h, 503, b"upstream unavailable\n", {})
        if mode == "old_version" and is_pointer and self.old_pointer is not None:
            return self.reply(h, 200, self.old_pointer, {"ETag": '"old"'})
        status, headers, body = self.fetch(h)
        if mode == "bloated" and is_pointer and status == 200:
            body = body.rstrip() + b" " * BLOAT + b"\n"
            headers["ETag"] = '"bloated"'
        if mode == "bad_signature" and is_pointer and status == 200:
            ptr = json.loads(body)
            ptr["signature"] = base64.b64encode(bytes(64)).decode()
            body = json.dumps(ptr).encode()
            headers["ETag"] = '"forged"'
        if is_bundle and status == 200:
            if mode == "corrupt":
                body = bytes(b ^ 0x5A for b in body[:16]) + body[16:]
            elif mode == "wrong":
                body = next((v for k, v in self.wrong.items() if h.path.startswith(k)), body[::-1])
            elif mode in ("endless", "huge"):
                return self.flood(h, body, HUGE if mode == "huge" else None)
            elif mode == "trickle":
                # A byte at a time: every read is quick, and the whole never
                # ends, however slow or fast the client: the length promised is
                # more than will ever be sent. Only the client's deadline for a
                # whole answer (or the fault ending) stops it.
                h.send_response(200)
                h.send_header("Content-Length", str(len(body) + TRICKLE_PADDING))
                h.end_headers()
                dripped = body + bytes(TRICKLE_PADDING)
                try:
                    for i in range(len(dripped)):
                        if self.released.wait(DRIP_GAP):
                            break
                        h.wfile.write(dripped[i:i + 1])
                        h.wfile.flush()
                    h.connection.shutdown(2)
                except OSError:
                    pass  # the client gave up and hung up: the fault did its work
                h.close_connection = True
                return
            elif mode in ("truncate", "stall"):
                # Promise the whole body, send half, then hang up.
                h.send_response(200)
                h.send_header("Content-Length", str(len(body)))
                h.end_headers()
                h.wfile.write(body[: len(body) // 2])
                h.wfile.flush()
                if mode == "stall":
                    self.stalled.set()
                    self.released.wait(HOLD)
                h.close_connection = True
                h.connection.shutdown(2)
                return
        self.reply(h, status, body, headers)

    def flood(self, h: BaseHTTPRequestHandler, body: bytes, length: int | None) -> None:
        """The body, then zeros without end (or until the fault ends): with no
        Content-Length ("endless") or a false one of `length` bytes ("huge").
        Only a client that stops reading on its own ever ends it."""
        h.send_response(200)
        if length is not None:
            h.send_header("Content-Length", str(length))
        h.send_header("Connection", "close")
        h.end_headers()
        chunk = bytes(1 << 16)
        try:
            h.wfile.write(body)
            while not self.released.is_set():
                h.wfile.write(chunk)
                self.sent += len(chunk)
        except OSError:
            self.hung_up.set()  # the client gave up: the fault did its work
        h.close_connection = True

    def fetch(self, h: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        up = urllib.parse.urlsplit(self.upstream)
        conn = http.client.HTTPConnection(up.hostname or "127.0.0.1", up.port, timeout=10)
        try:
            headers = {k: v for k, v in h.headers.items() if k.lower() in ("if-none-match", "accept")}
            conn.request("GET", h.path, headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            keep = {k: v for k, v in resp.getheaders() if k.lower() in ("etag", "content-type", "cache-control")}
            return resp.status, keep, body
        except OSError:
            return 502, {}, b"upstream down\n"
        finally:
            conn.close()

    @staticmethod
    def reply(h: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str]) -> None:
        h.send_response(status)
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if status != 304:
            h.wfile.write(body)
