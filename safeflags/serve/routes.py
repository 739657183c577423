"""The routes of `safeflags serve` and the middlewares every one of them passes.

    GET /channels/<name>.json              the pointer; ETag, If-None-Match -> 304; no-cache
    GET /bundles/sha256-<hex>.pb           bundle bytes      } immutable: cacheable for a year,
    GET /manifests/sha256-<hex>.pb         its manifest      } ETag = the digest
    GET /chunks/sha256-<hex>.pb            one chunk         }
    GET /history/<name>/<v>.json           a history record (and /events/<name>/<id>.json audit entries)
    GET /channels/  /history/<name>/ ...   listings (JSON) for read-only tools; no-cache
    GET /events?channel=NAME...            Server-Sent Events: `event: channel` on every move
    GET /healthz                           200 while the store watch succeeds, else 503 (JSON)
    GET /metrics                           Prometheus text format

One middleware for every route, OFREP's included, in this order: a request
whose method takes no body but that has one is refused with 400 and the
connection closed (its body is never read as a next request); the bearer
token, when one is set, on every route but /healthz (a load balancer's health
check carries no credentials, and the answer says nothing a caller could use);
an allowed body (OFREP's) read whole within `read_timeout`, and only once the
caller is authenticated; then requests counted by route and status, and a
StoreError answered 502.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.http import HttpVersion11

from safeflags.serve.connection import SERVER, Connection
from safeflags.serve.state import ServeState
from safeflags.serve.stream import EventStream, event_of
from safeflags.store import StoreError
from safeflags.store.layout import CHANNEL_RE, DIGEST_RE

STATE = web.AppKey("state", ServeState)
IMMUTABLE = "public, max-age=31536000, immutable"
LISTED = ("channels/", "history/", "bundles/", "events/", "manifests/", "chunks/")
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def text(status: int, message: str, *, close: bool = False, headers: dict[str, str] | None = None) -> web.Response:
    resp = web.Response(status=status, text=message + "\n", headers=headers)
    if close:
        resp.force_close()
    return resp


def conditional(request: web.Request, body: bytes, ctype: str, *, etag: str | None = None,
                cache: str | None = None) -> web.Response:
    headers = {}
    if cache is not None:
        headers["Cache-Control"] = cache
    if etag is not None:
        headers["ETag"] = etag
        wanted = {t.strip().removeprefix("W/") for t in request.headers.get("If-None-Match", "").split(",")}
        if etag in wanted or "*" in wanted:
            return web.Response(status=304, headers=headers)
    return web.Response(body=body, content_type=ctype, headers=headers)


# -- the one middleware --------------------------------------------------------------------------------------
@web.middleware
async def gate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every request passes here; one middleware, not four, since each layer costs on the 304 path."""
    state = request.app[STATE]
    route = getattr(request.match_info.route, "name", None) or "unmatched"
    try:
        resp = await _guarded(request, handler, state)
    except web.HTTPException as exc:
        state.metrics.inc("requests_total", route=route, status=str(exc.status))
        raise
    except StoreError as exc:
        resp = text(502, f"store error: {exc}")
    state.metrics.inc("requests_total", route=route, status=str(resp.status))
    if isinstance(resp, web.Response) and isinstance(resp.body, bytes) and request.method != "HEAD":
        state.metrics.inc("bytes_sent_total", len(resp.body))
    return resp


async def _guarded(request: web.Request, handler: Handler, state: ServeState) -> web.StreamResponse:
    takes_body = request.method in BODY_METHODS
    if not takes_body and (request.content_length or "Transfer-Encoding" in request.headers):
        return text(400, f"a {request.method} request has no body", close=True)
    token = state.settings.token
    if token is not None and request.path != "/healthz" and not _authorized(request, token):
        given = "Authorization" in request.headers
        challenge = 'Bearer realm="safeflags"' + (', error="invalid_token"' if given else "")
        return text(401, "a bearer token is required", headers={"WWW-Authenticate": challenge})
    if takes_body and request.body_exists:
        try:
            # Read whole here, bounded by client_max_size: the handler's request.read() gets it from memory.
            await asyncio.wait_for(request.read(), state.settings.read_timeout)
        except TimeoutError:
            return text(408, "request body too slow", close=True)
    return await handler(request)


def _authorized(request: web.Request, token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    # Hashed first, so the comparison takes the same time whatever the length of the guess.
    return scheme.lower() == "bearer" and hmac.compare_digest(
        hashlib.sha256(given.strip().encode()).digest(), hashlib.sha256(token.encode()).digest())


# -- the store's layout ---------------------------------------------------------------------------------------
async def channel(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    item = await request.app[STATE].load_pointer(name) if CHANNEL_RE.match(name) else None
    if item is None:
        return text(404, "no such channel")
    return conditional(request, item[0], "application/json", etag=item[1], cache="no-cache")


def immutable(folder: str) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        digest = request.match_info["digest"]
        if not DIGEST_RE.match(digest):
            return text(404, "not found")
        data = await request.app[STATE].immutable(f"{folder}/{digest}.pb", None if folder == "manifests" else digest)
        if data is None:
            return text(404, f"no such {folder[:-1]}")
        return conditional(request, data, "application/octet-stream", etag=f'"{digest}"', cache=IMMUTABLE)
    return handle


async def record(request: web.Request) -> web.StreamResponse:
    folder, name, item = (request.match_info[k] for k in ("folder", "name", "item"))
    if not CHANNEL_RE.match(name) or not CHANNEL_RE.match(item):
        return text(404, "not found")
    data = await request.app[STATE].immutable(f"{folder}/{name}/{item}.json")
    if data is None:
        return text(404, "not found")
    return conditional(request, data, "application/json", cache="public, max-age=31536000")


async def listing(request: web.Request) -> web.StreamResponse:
    """A folder's listing (`?prefix=` narrows it), else 404."""
    path = request.path.lstrip("/")
    if not (path.endswith("/") and path.startswith(LISTED)) or "//" in path or ".." in path:
        return text(404, "not found")
    prefix = request.query.get("prefix", path)
    if not prefix.startswith(path):
        prefix = path
    state = request.app[STATE]
    state.metrics.inc("store_reads_total", kind="listing")
    entries = await state.read(state.store.backend.list, prefix)
    body = json.dumps([{"key": e.key, "modified": e.modified} for e in entries]).encode()
    return conditional(request, body, "application/json", cache="no-cache")


# -- the server's own ---------------------------------------------------------------------------------------------
async def events(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    names = request.query.getall("channel", [])
    wanted = frozenset(names)
    if not wanted:
        return text(400, "give one or more ?channel=NAME")
    if len(wanted) > state.settings.max_channels:
        return text(400, f"at most {state.settings.max_channels} channels per stream")
    bad = sorted(c for c in wanted if not CHANNEL_RE.match(c))
    if bad:
        return text(400, f"invalid channel name {bad[0]!r}")
    known = [state.pointer(c) for c in sorted(wanted)]
    if None in known:  # some not known yet: read them (at once; the negative cache bounds the reads)
        known = await asyncio.gather(*(state.load_pointer(c) for c in sorted(wanted)))
    conn, transport = request.protocol, request.transport
    if not isinstance(conn, Connection) or not isinstance(transport, asyncio.Transport):
        return text(500, "not a stream connection")
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                       "X-Accel-Buffering": "no"})
    resp.force_close()
    sub = EventStream(wanted, conn, transport, chunked=request.version >= HttpVersion11, metrics=state.metrics,
                     write_timeout=state.settings.write_timeout)
    # Registered before the first await that could let a move through, so none is missed.
    for item in known:
        if item is not None:
            sub.pending[item[2].channel] = event_of(item[2])
    state.hub.add(sub)
    try:
        await resp.prepare(request)
        await resp.write(b"retry: 1000\n\n")
        await sub.run(state.settings.write_timeout)
    finally:
        state.hub.remove(sub)
    return resp


async def healthz(request: web.Request) -> web.StreamResponse:
    ok, body = request.app[STATE].health()
    return web.json_response(body, status=200 if ok else 503, headers={"Cache-Control": "no-store"})


async def metrics(request: web.Request) -> web.StreamResponse:
    return web.Response(body=request.app[STATE].metrics.render(), headers={
        "Content-Type": "text/plain; version=0.0.4; charset=utf-8", "Cache-Control": "no-store"})


async def server_header(_request: web.Request, resp: web.StreamResponse) -> None:
    resp.headers["Server"] = SERVER  # else aiohttp names itself and its version


def build_app(state: ServeState) -> web.Application:
    app = web.Application(middlewares=[gate], client_max_size=state.settings.max_body,
                          handler_args=None)
    app[STATE] = state
    app.on_response_prepare.append(server_header)  # every answer of a route, streams and OFREP's included
    routes = [
        ("/healthz", healthz, "healthz"), ("/metrics", metrics, "metrics"), ("/events", events, "events"),
        ("/channels/{name}.json", channel, "channel"),
        ("/bundles/{digest}.pb", immutable("bundles"), "bundle"),
        ("/manifests/{digest}.pb", immutable("manifests"), "manifest"),
        ("/chunks/{digest}.pb", immutable("chunks"), "chunk"),
        ("/{folder:history|events}/{name}/{item}.json", record, "record"),
        ("/{folder:channels|history|bundles|events|manifests|chunks}/{rest:.*}", listing, "listing"),
    ]
    for path, fn, name in routes:
        app.router.add_get(path, fn, name=name)
    return app
