"""`FlagServer`: the store over HTTP with a push stream, on aiohttp (routes in safeflags.serve.routes).

aiohttp was chosen by measurement (benchmarks/server_stacks.py, the same tiny
app on uvicorn + starlette): on this workload its stream writes go straight to
the transport with no task per event, its C parser (llhttp) is strict about the
request-smuggling inputs, and it held subscribers in well under half the memory.

The listening socket is bound in the constructor (so `.url` is known at once
and a taken port fails there), with a real backlog; the event loop runs in a
background thread from `start()` (tests, benchmarks, embedding) or for the
life of the process from `serve_forever()` (the CLI).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any

from aiohttp import web

from safeflags.sdk.kernel.errors import SafeflagsError
from safeflags.serve.connection import Connection, Guard
from safeflags.serve.routes import build_app
from safeflags.serve.state import ServeState, Settings
from safeflags.store import BundleStore

log = logging.getLogger("safeflags.serve")

SHUTDOWN_GRACE = 1.0
"""Seconds in-flight requests get to finish on close(); streams are ended at once."""


class ServeError(SafeflagsError):
    """`safeflags serve` cannot start as configured."""


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols(["http/1.1"])
    try:
        ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ServeError(f"cannot load the TLS certificate {cert!r} and key {key!r}: {exc}") from None
    return ctx


class FlagServer:
    def __init__(self, store: BundleStore, host: str = "127.0.0.1", port: int = 0, *,
                 watch_interval: float = 0.2, heartbeat: float = 15.0, list_interval: float = 10.0,
                 token: str | None = None, tls_cert: str | None = None, tls_key: str | None = None,
                 ssl_context: ssl.SSLContext | None = None, backlog: int = 4096, idle_timeout: float = 15.0,
                 read_timeout: float = 10.0, write_timeout: float = 10.0, max_channels: int = 16,
                 max_connections_per_client: int = 1024, negative_ttl: float | None = None,
                 cache_bytes: int = 256 << 20, ofrep_channel: str | None = None,
                 ofrep_options: Mapping[str, Any] | None = None):
        if token is not None and not token.strip():
            raise ServeError("the bearer token is empty")
        if (tls_cert is None) != (tls_key is None):
            raise ServeError("TLS needs both a certificate and its key")
        self.store = store
        self.settings = Settings(
            watch_interval=watch_interval, list_interval=list_interval, heartbeat=heartbeat,
            negative_ttl=list_interval if negative_ttl is None else negative_ttl, cache_bytes=cache_bytes,
            token=None if token is None else token.strip(), max_channels=max_channels,
            read_timeout=read_timeout, write_timeout=write_timeout)
        self.idle_timeout = idle_timeout
        self.max_connections_per_client = max_connections_per_client
        self.ssl = ssl_context if ssl_context is not None else (
            tls_context(tls_cert, tls_key) if tls_cert is not None and tls_key is not None else None)
        self.ofrep_channel = ofrep_channel
        self.ofrep_options = dict(ofrep_options or {})
        self.state = ServeState(store, self.settings)
        self.backlog = backlog
        self.sock = self._bind(host, port, backlog)
        self._address: tuple[str, int] = self.sock.getsockname()[:2]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._closed = False
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.Server | None = None
        self.guard = Guard(max_connections_per_client, self.state.metrics)

    @staticmethod
    def _bind(host: str, port: int, backlog: int) -> socket.socket:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            # A restarted server takes its port back at once (connections of the last one linger in TIME_WAIT).
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(backlog)
        except OSError as exc:
            sock.close()
            raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        sock.setblocking(False)
        return sock

    @property
    def port(self) -> int:
        return self._address[1]

    @property
    def url(self) -> str:
        host = self._address[0]
        host = f"[{host}]" if ":" in host else host
        return f"{'https' if self.ssl is not None else 'http'}://{host}:{self.port}"

    # -- life ----------------------------------------------------------------------------------------------------
    def start(self) -> FlagServer:
        """Serve from a background thread; returns once the server answers."""
        if self._thread is not None:
            return self
        loop = asyncio.new_event_loop()
        ready: Future[None] = Future()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._startup())
            except BaseException as exc:
                ready.set_exception(exc)
                loop.close()
                return
            ready.set_result(None)
            loop.run_forever()
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="safeflags-serve", daemon=True)
        self._thread.start()
        try:
            ready.result()
        except BaseException:
            self._thread.join()
            self._thread = self._loop = None
            self.sock.close()
            raise
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
        if self._closed:
            return
        self._closed = True
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            done = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
            with contextlib.suppress(Exception):
                done.result(timeout=SHUTDOWN_GRACE + 10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
        self.sock.close()

    # -- on the loop ----------------------------------------------------------------------------------------------
    async def _startup(self) -> None:
        loop = asyncio.get_running_loop()
        app = build_app(self.state)
        if self.ofrep_channel is not None:
            self._setup_ofrep(app)
        kwargs: dict[str, Any] = {"keepalive_timeout": self.idle_timeout, "access_log": None,
                                  "lingering_time": 0.0, "auto_decompress": False}
        # Before accepting: the first requests find every channel known and /healthz its first poll.
        await self.state.poll(list_channels=True)
        runner = web.AppRunner(app, handle_signals=False, **kwargs)
        await runner.setup()
        self._runner = runner
        handlers = runner.server
        assert handlers is not None
        self._listener = await loop.create_server(
            lambda: Connection(handlers, loop=loop, guard=self.guard, **kwargs), sock=self.sock, ssl=self.ssl,
            backlog=self.backlog,  # asyncio listens again with its own default (100) otherwise
            ssl_handshake_timeout=self.idle_timeout if self.ssl is not None else None)
        self.state.start()

    def _setup_ofrep(self, app: web.Application) -> None:
        try:
            from safeflags.serve import ofrep  # only a server asked for OFREP needs it
            # Looked up, not imported by name: the routes module may be older than this server.
            setup: Callable[..., object] = ofrep.setup
        except (ImportError, AttributeError) as exc:
            raise ServeError(f"OFREP is not available in this installation: {exc}") from None
        setup(app, self.state, self.ofrep_channel, **self.ofrep_options)

    async def _shutdown(self) -> None:
        if self._listener is not None:
            self._listener.close()  # no new connections
        # Every stream is ended before the grace period starts, so each body ends whole (its last
        # chunk, then FIN) and clients reconnect (to another replica) at once instead of seeing a
        # cut after the grace. Ours end through the hub; the app's own (OFREP's) through its
        # on_shutdown hooks, which aiohttp's runner.cleanup() would only call after the grace.
        self.state.hub.end_all()
        runner = self._runner
        if runner is not None:
            await runner.shutdown()
            server = runner.server
            if server is not None:
                await server.shutdown(SHUTDOWN_GRACE)
        # After the grace: requests still in flight may need a store read.
        await self.state.stop()
        if runner is not None:
            # runner.cleanup() would run the on_shutdown hooks a second time.
            await runner.app.cleanup()
        for conn in list(self.guard.open):
            if conn.transport is not None:
                conn.transport.abort()
