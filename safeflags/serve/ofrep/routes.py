"""The OFREP routes of one channel and the event stream they advertise."""
from __future__ import annotations

import asyncio
import calendar
import contextlib
import json
import logging
import time
from collections.abc import Mapping

from aiohttp import web

from safeflags.sdk.evaluator import Evaluator
from safeflags.sdk.kernel.errors import BundleError
from safeflags.serve.ofrep.bodies import Bodies
from safeflags.serve.ofrep.contexts import Contexts, StateLike
from safeflags.serve.ofrep.protocol import (
    JSON_TYPE,
    MAX_BODY,
    MAX_KEY,
    PREFIX,
    RETRY_AFTER,
    BadRequest,
    Catalog,
    Request,
    bulk_etag,
    decode_body,
    dump,
    dump_item,
    etag_matches,
    evaluation,
)
from safeflags.serve.ofrep.table import Table
from safeflags.store import Pointer

log = logging.getLogger("safeflags.serve")
WRITE_TIMEOUT = 10.0
"""Seconds an event-stream write may wait on a subscriber that does not read."""


class Notifier:
    """The OFREP event stream: every subscriber wakes on a publish and sends
    the latest event only, so a slow one holds no queue."""

    def __init__(self) -> None:
        self.latest: bytes | None = None
        self.event_id = ""
        self._moved = asyncio.Event()
        self.closing = False
        self.subscribers = 0

    def publish(self, pointer: Pointer) -> None:
        data: dict[str, object] = {"type": "refetchEvaluation", "etag": pointer.digest}
        modified = _epoch(pointer.updated or pointer.published)
        if modified is not None:
            data["lastModified"] = modified
        self.event_id = f"{pointer.channel}:{pointer.version}:{pointer.digest[7:19]}"
        self.latest = f"id: {self.event_id}\nevent: message\ndata: {json.dumps(data)}\n\n".encode()
        moved, self._moved = self._moved, asyncio.Event()
        moved.set()

    async def wait(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._moved.wait(), timeout)

    def close(self) -> None:
        self.closing = True
        self._moved.set()


def _epoch(text: str) -> int | None:
    try:
        return calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S"))
    except (ValueError, TypeError):
        return None


class Ofrep:
    """The OFREP routes of one channel."""

    def __init__(self, state: StateLike, channel: str, *, targeting_key: str, static_dims: Mapping[str, object],
                 max_contexts: int, heartbeat: float, max_subscribers: int, event_stream_url: str | None,
                 max_bodies_bytes: int = 32 << 20):
        self.state, self.channel = state, channel
        self.contexts = Contexts(state, channel, targeting_key=targeting_key, pinned=static_dims,
                                 max_contexts=max_contexts)
        self.notifier = Notifier()
        self.bodies = Bodies(max_bodies_bytes)
        self.heartbeat, self.max_subscribers = heartbeat, max_subscribers
        stream: dict[str, object] = ({"type": "sse", "url": event_stream_url} if event_stream_url else
                                     {"type": "sse", "endpoint": {"requestUri": f"{PREFIX}/events"}})
        self.event_streams = [stream]
        self._tasks: set[asyncio.Future[None]] = set()

    def moved(self, channel: str, pointer: Pointer) -> None:
        """The server's listener: a watched channel's pointer moved (on the event loop)."""
        if channel != self.channel:
            return
        self.notifier.publish(pointer)
        self.bodies.keep_only(pointer.digest)
        task = asyncio.ensure_future(self.contexts.refresh(pointer.digest))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _prepare(self, request: web.Request) -> tuple[str, Catalog, Request]:
        ctype = request.headers.get("Content-Type")
        if ctype is None or request.content_type != JSON_TYPE:
            raise BadRequest(415, "INVALID_CONTEXT", f"the request body must be {JSON_TYPE}")
        if request.content_length is not None and request.content_length > MAX_BODY:
            raise BadRequest(413, "INVALID_CONTEXT", f"request body over {MAX_BODY} bytes")
        try:
            # read(), not the stream: the server's middleware may have read the body already,
            # bounded by the app's client_max_size.
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise BadRequest(413, "INVALID_CONTEXT", f"request body over {MAX_BODY} bytes") from None
        context = decode_body(body)
        known = self.state.pointer(self.channel)
        if known is None:
            raise BadRequest(503, "GENERAL", f"channel {self.channel!r} serves no bundle yet")
        if self.notifier.latest is None:
            self.notifier.publish(known[2])
        try:
            digest, catalog = await self.contexts.usable(known[2].digest)
        except BundleError:
            raise BadRequest(503, "GENERAL", f"bundle {known[2].digest} cannot be loaded yet") from None
        return digest, catalog, catalog.request(context)

    async def _evaluator(self, digest: str, parsed: Request) -> Evaluator:
        try:
            return await self.contexts.evaluator(digest, parsed)
        except BundleError as exc:
            log.warning("safeflags serve: OFREP cannot specialise bundle %s: %s", digest, exc)
            raise BadRequest(503, "GENERAL", f"bundle {digest} cannot be loaded yet") from None

    async def flag(self, request: web.Request) -> web.StreamResponse:
        key = request.match_info["key"]
        try:
            if len(key) > MAX_KEY:
                raise BadRequest(404, "FLAG_NOT_FOUND", f"no flag key is over {MAX_KEY} characters")
            digest, _catalog, parsed = await self._prepare(request)
            evaluator = await self._evaluator(digest, parsed)
            if key not in evaluator.snapshot.flags:
                # Answered here, not by the evaluator, which would log every unknown key a client asks for.
                raise BadRequest(404, "FLAG_NOT_FOUND", f"no flag {key!r} in bundle {evaluator.snapshot.digest}")
            status, body = evaluation(evaluator.details(key, None, parsed.context))
            payload = dump_item(body)
        except BadRequest as exc:
            status, payload = exc.status, dump({"key": key[:MAX_KEY], "errorCode": exc.code,
                                                "errorDetails": exc.details})
        except Exception:  # a bug: logged, answered as OFREP's general error
            log.exception("safeflags serve: OFREP evaluation of %r failed", key[:MAX_KEY])
            status, payload = 500, dump({"key": key[:MAX_KEY], "errorCode": "GENERAL",
                                         "errorDetails": "internal error"})
        return _json(status, payload)

    async def bulk(self, request: web.Request) -> web.StreamResponse:
        try:
            digest, _catalog, parsed = await self._prepare(request)
            etag = bulk_etag(digest, parsed)
            headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
            if etag_matches(request.headers.get("If-None-Match", ""), etag):
                return web.Response(status=304, headers=headers)
            payload = self.bodies.get(digest, parsed.canonical)
            if payload is None:
                try:
                    table = await self.contexts.table(digest, parsed)
                except BundleError as exc:
                    log.warning("safeflags serve: OFREP cannot tabulate bundle %s: %s", digest, exc)
                    raise BadRequest(503, "GENERAL", f"bundle {digest} cannot be loaded yet") from None
                loop = asyncio.get_running_loop()
                # Every flag once, a few hundred ms at 25,000 flags: off the event loop.
                payload = await loop.run_in_executor(None, self._bulk_body, table, parsed)
                self.bodies.put(digest, parsed.canonical, payload)
            return _json(200, payload, headers)
        except BadRequest as exc:
            status, payload = exc.status, dump({"errorCode": exc.code, "errorDetails": exc.details})
        except Exception:
            log.exception("safeflags serve: OFREP bulk evaluation failed")
            status, payload = 500, dump({"errorDetails": "internal error"})
        return _json(status, payload)

    def _bulk_body(self, table: Table, parsed: Request) -> bytes:
        rest = dump({"eventStreams": self.event_streams, "metadata": {"channel": self.channel, "digest": table.digest}})
        return b'{"flags":[' + b",".join(table.items(parsed.context)) + b"]," + rest[1:]

    async def events(self, request: web.Request) -> web.StreamResponse:
        notifier = self.notifier
        if notifier.subscribers >= self.max_subscribers:
            return _json(503, dump({"errorDetails": "too many OFREP event subscribers"}), {"Retry-After": "5"})
        known = self.state.pointer(self.channel)
        if notifier.latest is None and known is not None:
            notifier.publish(known[2])
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                               "X-Accel-Buffering": "no"})
        notifier.subscribers += 1
        try:
            await response.prepare(request)
            await response.write(b"retry: 2000\n\n")
            # A reconnecting client that missed a publish gets it at once; a new one polls first anyway.
            last = request.headers.get("Last-Event-ID")
            seen = None if last is not None and last != notifier.event_id else notifier.latest
            while not notifier.closing:
                if notifier.latest is not seen and notifier.latest is not None:
                    seen = notifier.latest
                    await asyncio.wait_for(response.write(seen), WRITE_TIMEOUT)
                    continue
                await notifier.wait(self.heartbeat)
                if notifier.latest is seen and not notifier.closing:
                    await asyncio.wait_for(response.write(b": ping\n\n"), WRITE_TIMEOUT)
        except (TimeoutError, ConnectionError):  # gone, or too slow to keep
            pass
        finally:
            notifier.subscribers -= 1
        return response


def _json(status: int, payload: bytes, headers: Mapping[str, str] | None = None) -> web.Response:
    extra = dict(headers or {})
    if status in (429, 503):
        extra.setdefault("Retry-After", RETRY_AFTER)
    return web.Response(status=status, body=payload, content_type=JSON_TYPE, headers=extra)


def setup(app: web.Application, state: StateLike, channel: str, *, targeting_key: str = "user_id",
          static_dims: Mapping[str, object] | None = None, max_contexts: int = 64, heartbeat: float = 15.0,
          max_subscribers: int = 10_000, event_stream_url: str | None = None,
          max_bodies_bytes: int = 32 << 20) -> Ofrep:
    """Add the OFREP routes for `channel` to `app`.

    `targeting_key`: the dimension OFREP's targetingKey fills (an attribute of
    the same name wins). `static_dims`: static dimension values this server
    pins for every request (a request's own value for them is ignored).
    `max_contexts`: specialised contexts kept (one per distinct static context), each
    for single flags and, apart, for bulk answers. `max_bodies_bytes`: bulk answers kept
    per (bundle, context), in bytes (0: none).
    `event_stream_url`: the absolute URL advertised in `eventStreams`; by default
    the path alone, which providers join to their configured base URL.
    """
    if max_contexts < 1:
        raise ValueError("max_contexts must be at least 1")
    if max_bodies_bytes < 0:
        raise ValueError("max_bodies_bytes must not be negative")
    ofrep = Ofrep(state, channel, targeting_key=targeting_key, static_dims=dict(static_dims or {}),
                  max_contexts=max_contexts, heartbeat=heartbeat, max_subscribers=max_subscribers,
                  event_stream_url=event_stream_url, max_bodies_bytes=max_bodies_bytes)
    state.add_listener(ofrep.moved)
    app.router.add_post(f"{PREFIX}/evaluate/flags/{{key}}", ofrep.flag, name="ofrep_flag")
    app.router.add_post(f"{PREFIX}/evaluate/flags", ofrep.bulk, name="ofrep_bulk")
    app.router.add_get(f"{PREFIX}/events", ofrep.events, name="ofrep_events")

    async def start(_app: web.Application) -> None:
        state.pointer(channel)  # the first call starts watching the channel

    async def stop(_app: web.Application) -> None:
        ofrep.notifier.close()

    app.on_startup.append(start)
    app.on_shutdown.append(stop)
    log.info("safeflags serve: OFREP on channel %r; targetingKey -> dimension %r; pinned static %s; "
             "%d specialised contexts kept", channel, targeting_key, dict(static_dims or {}), max_contexts)
    return ofrep
