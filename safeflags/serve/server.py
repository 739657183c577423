"""A small HTTP front for a bundle store (stdlib only).

    GET /channels/<name>.json        the pointer; ETag, If-None-Match -> 304
    GET /bundles/sha256-<hex>.pb     bundle bytes; immutable, cacheable for a year
    GET /history/<name>/<v>.json     a history record (and /events/<name>/... audit entries)
    GET /channels/  /history/<name>/ listings (JSON) for read-only tools (and /events/<name>/)
    GET /events?channel=NAME...      Server-Sent Events: `event: channel` on every move
    GET /healthz

The layout is the store's own, so a client reads this server, a CDN in front
of the bucket, or a plain static copy the same way. One watcher thread polls
the store (conditional reads) and fans changes out to every stream, so a
thousand subscribed services cost the store one poll per interval.
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import queue
import threading
import urllib.parse
from collections import OrderedDict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from safeflags.store import BundleStore, NotModified, Pointer, StoreError
from safeflags.store.layout import CHANNEL_RE, DIGEST_RE, pointer_key

log = logging.getLogger("safeflags.serve")

BUNDLE_CACHE = 32  # bundles kept in memory; they never change, so no invalidation


class FlagServer:
    def __init__(self, store: BundleStore, host: str = "127.0.0.1", port: int = 0, *,
                 watch_interval: float = 0.2, heartbeat: float = 15.0, list_interval: float = 10.0):
        self.store = store
        self.watch_interval = watch_interval
        self.heartbeat = heartbeat
        self.list_interval = list_interval
        self.pointers: dict[str, tuple[bytes, str]] = {}  # channel -> (body, etag)
        self._etags: dict[str, str | None] = {}  # the store's etags, for conditional polls
        self._bundles: OrderedDict[str, bytes] = OrderedDict()
        self._subscribers: set[tuple[frozenset[str], queue.Queue[bytes | None]]] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        handler = type("Handler", (_Handler,), {"app": self})
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}" if isinstance(host, str) else f"http://{host.decode()}:{port}"

    def start(self) -> FlagServer:
        """Serve in background threads (tests, benchmarks, embedding)."""
        self.poll_store(list_channels=True)
        # A short shutdown poll: close() returns within 0.1 s.
        serve = functools.partial(self.httpd.serve_forever, poll_interval=0.1)
        for target, name in ((self._watch, "watch"), (serve, "http")):
            t = threading.Thread(target=target, name=f"safeflags-serve-{name}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def serve_forever(self) -> None:
        self.start()
        try:
            self._stop.wait()
        finally:
            self.close()

    def stop(self) -> None:
        """Ask serve_forever() to return (safe from a signal handler)."""
        self._stop.set()

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            for _, q in self._subscribers:
                q.put(None)  # ends every open event stream
        self.httpd.shutdown()
        self.httpd.server_close()
        for t in self._threads:
            t.join(timeout=10)
        self._threads.clear()

    # -- watching the store ----------------------------------------------------
    def _watch(self) -> None:
        cycles_per_list = max(1, int(self.list_interval / max(self.watch_interval, 1e-3)))
        cycle = 0
        while not self._stop.wait(self.watch_interval):
            cycle += 1
            try:
                self.poll_store(list_channels=cycle % cycles_per_list == 0)
            except Exception as exc:  # keep serving what we have
                log.warning("safeflags serve: cannot poll %s: %s", self.store.url, exc)

    def poll_store(self, list_channels: bool = False) -> None:
        names = set(self.pointers)
        if list_channels:
            names |= set(self.store.channels())
        for channel in sorted(names):
            try:
                self._poll_channel(channel)
            except Exception as exc:  # one bad channel must not stall the others
                log.warning("safeflags serve: cannot read channel %r from %s: %s", channel, self.store.url, exc)

    def _poll_channel(self, channel: str) -> bytes | None:
        try:
            obj = self.store.backend.get(pointer_key(channel), if_none_match=self._etags.get(channel))
        except NotModified:
            return self.pointers[channel][0]
        if obj is None:
            return None
        ptr = Pointer.from_json(obj.data, channel)  # never relay a pointer that does not parse
        self._etags[channel] = obj.etag
        etag = '"' + hashlib.sha256(obj.data).hexdigest()[:32] + '"'
        with self._lock:
            old = self.pointers.get(channel)
            self.pointers[channel] = (obj.data, etag)
            subscribers = list(self._subscribers)
        if old is None or old[1] != etag:
            event = _event(ptr)
            for channels, q in subscribers:
                if channel in channels:
                    q.put(event)
        return obj.data

    def pointer(self, channel: str) -> tuple[bytes, str] | None:
        if channel not in self.pointers and self._poll_channel(channel) is None:
            return None
        return self.pointers[channel]

    def bundle(self, digest: str) -> bytes | None:
        with self._lock:
            data = self._bundles.get(digest)
            if data is not None:
                self._bundles.move_to_end(digest)
                return data
        obj = self.store.backend.get(f"bundles/{digest}.pb")
        if obj is None:
            return None
        with self._lock:
            self._bundles[digest] = obj.data
            while len(self._bundles) > BUNDLE_CACHE:
                self._bundles.popitem(last=False)
        return obj.data

    def subscribe(self, channels: frozenset[str]) -> queue.Queue[bytes | None]:
        q: queue.Queue[bytes | None] = queue.Queue()
        with self._lock:
            self._subscribers.add((channels, q))
            current = [self.pointers.get(c) for c in sorted(channels)]
        for item in current:
            if item is not None:
                q.put(_event(Pointer.from_json(item[0], "pointer")))
        return q

    def unsubscribe(self, channels: frozenset[str], q: queue.Queue[bytes | None]) -> None:
        with self._lock:
            self._subscribers.discard((channels, q))


def _event(ptr: Pointer) -> bytes:
    data = json.dumps({"channel": ptr.channel, "version": ptr.version, "digest": ptr.digest,
                       "pinned": ptr.pinned}, sort_keys=True)
    return f"event: channel\nid: {ptr.channel}:{ptr.version}\ndata: {data}\n\n".encode()


class _Handler(BaseHTTPRequestHandler):
    app: FlagServer
    protocol_version = "HTTP/1.1"
    server_version = "safeflags-serve"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:  # the stdlib's name
        url = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(url.path)
        try:
            if path == "/events":
                return self._events(urllib.parse.parse_qs(url.query).get("channel", []))
            if path == "/healthz":
                return self._send(200, b"ok\n", "text/plain")
            if path.endswith("/") and path.startswith(("/channels/", "/history/", "/bundles/", "/events/")):
                return self._listing(path[1:])
            parts = path.strip("/").split("/")
            if len(parts) == 2 and parts[0] == "channels" and parts[1].endswith(".json"):
                item = self.app.pointer(parts[1][:-5]) if CHANNEL_RE.match(parts[1][:-5]) else None
                if item is None:
                    return self._send(404, b"no such channel\n", "text/plain")
                return self._send(200, item[0], "application/json", etag=item[1], cache="no-cache")
            if len(parts) == 2 and parts[0] == "bundles" and parts[1].endswith(".pb"):
                digest = parts[1][:-3]
                data = self.app.bundle(digest) if DIGEST_RE.match(digest) else None
                if data is None:
                    return self._send(404, b"no such bundle\n", "text/plain")
                return self._send(200, data, "application/octet-stream", etag=f'"{digest}"',
                                  cache="public, max-age=31536000, immutable")
            if len(parts) == 3 and parts[0] in ("history", "events") and CHANNEL_RE.match(parts[1]):
                obj = self.app.store.backend.get("/".join(parts))
                if obj is not None:
                    return self._send(200, obj.data, "application/json", cache="public, max-age=31536000")
            return self._send(404, b"not found\n", "text/plain")
        except StoreError as exc:
            self._send(502, f"store error: {exc}\n".encode(), "text/plain")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _send(self, status: int, body: bytes, ctype: str, *, etag: str | None = None,
              cache: str | None = None) -> None:
        if etag is not None and etag in _etags(self.headers.get("If-None-Match", "")):
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if etag is not None:
            self.send_header("ETag", etag)
        if cache is not None:
            self.send_header("Cache-Control", cache)
        self.end_headers()
        self.wfile.write(body)

    def _listing(self, prefix: str) -> None:
        entries = self.app.store.backend.list(prefix)
        body = json.dumps([{"key": e.key, "modified": e.modified} for e in entries]).encode()
        self._send(200, body, "application/json", cache="no-cache")

    def _events(self, channels: list[str]) -> None:
        wanted = frozenset(c for c in channels if CHANNEL_RE.match(c))
        if not wanted:
            return self._send(400, b"give one or more ?channel=NAME\n", "text/plain")
        for channel in wanted:
            self.app.pointer(channel)  # start watching it
        q = self.app.subscribe(wanted)
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"retry: 1000\n\n")
            self.wfile.flush()
            while True:
                try:
                    event = q.get(timeout=self.app.heartbeat)
                except queue.Empty:
                    event = b": ping\n\n"  # lets clients and proxies tell a quiet stream from a dead one
                if event is None:
                    return
                self.wfile.write(event)
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            return
        finally:
            self.app.unsubscribe(wanted, q)
            self.close_connection = True


def _etags(header: str) -> set[str]:
    return {t.strip() for t in header.split(",") if t.strip()}
