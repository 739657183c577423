"""aiohttp against uvicorn + starlette on the workload of `safeflags serve`.

    python benchmarks/server_stacks.py [--subscribers 2000] [--rounds 5] [--seconds 3] [--runs 3]

The same tiny app on each stack: `GET /events` holds a Server-Sent Events
stream, `GET /publish` sends one event to every stream, `GET /p` answers a
conditional GET (`If-None-Match` -> 304), `GET /rss` reports the server's
resident memory. Each server runs in its own process on the stdlib asyncio
loop; the client runs in another process (raw asyncio sockets, so the client
costs the same for both stacks) and measures:

- publish -> every subscriber notified: from sending `/publish` to each
  stream receiving the event (CLOCK_MONOTONIC is shared across processes);
- 304s per second over 8 keep-alive connections;
- the server's RSS per held subscriber.

The machine has 2 cores: the client competes with the server for them, so
the rates are lower bounds. Prints JSON (the median of --runs per figure).
uvicorn uses httptools when importable (its C parser, `uvicorn[standard]`),
else h11; the output says which.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from typing import Any

EVENT = b"event: tick\ndata: {}\n\n"
ETAG = '"v1"'


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# -- the two servers ---------------------------------------------------------------------------------
def serve_aiohttp(sock: socket.socket) -> None:
    from aiohttp import web

    streams: set[asyncio.Transport] = set()

    async def events(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        resp.force_close()
        await resp.prepare(request)
        await resp.write(b"retry: 1000\n\n" + EVENT)
        # Written straight to the transport, as `safeflags serve` does: no task wakes per event.
        transport = request.transport
        assert transport is not None
        streams.add(transport)
        try:
            await asyncio.Event().wait()  # until the client goes
        finally:
            streams.discard(transport)
        return resp

    async def publish(request: web.Request) -> web.Response:
        for transport in list(streams):
            if not transport.is_closing():
                transport.write(EVENT)
        return web.Response(text=str(len(streams)))

    async def conditional(request: web.Request) -> web.Response:
        if request.headers.get("If-None-Match") == ETAG:
            return web.Response(status=304, headers={"ETag": ETAG})
        return web.Response(body=b"{}", headers={"ETag": ETAG}, content_type="application/json")

    async def rss(request: web.Request) -> web.Response:
        return web.Response(text=str(rss_bytes()))

    app = web.Application()
    app.add_routes([web.get("/events", events), web.get("/publish", publish), web.get("/p", conditional),
                    web.get("/rss", rss)])
    web.run_app(app, sock=sock, print=None, access_log=None, backlog=4096, shutdown_timeout=1)


def serve_starlette(sock: socket.socket) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response, StreamingResponse
    from starlette.routing import Route

    queues: set[asyncio.Queue[bytes]] = set()

    async def events(request: Request) -> StreamingResponse:
        q: asyncio.Queue[bytes] = asyncio.Queue()

        async def stream() -> Any:
            queues.add(q)
            try:
                yield b"retry: 1000\n\n" + EVENT
                while True:
                    yield await q.get()
            finally:
                queues.discard(q)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    async def publish(request: Request) -> PlainTextResponse:
        for q in list(queues):
            q.put_nowait(EVENT)
        return PlainTextResponse(str(len(queues)))

    async def conditional(request: Request) -> Response:
        if request.headers.get("if-none-match") == ETAG:
            return Response(status_code=304, headers={"ETag": ETAG})
        return Response(b"{}", headers={"ETag": ETAG}, media_type="application/json")

    async def rss(request: Request) -> PlainTextResponse:
        return PlainTextResponse(str(rss_bytes()))

    app = Starlette(routes=[Route("/events", events), Route("/publish", publish), Route("/p", conditional),
                            Route("/rss", rss)])
    config = uvicorn.Config(app, log_level="error", access_log=False, backlog=4096, loop="asyncio",
                            lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])


# -- the client ----------------------------------------------------------------------------------------
class Subscriber(asyncio.Protocol):
    def __init__(self) -> None:
        self.events = 0
        self.times: list[float] = []
        self.tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(b"GET /events HTTP/1.1\r\nHost: bench\r\n\r\n")

    def data_received(self, data: bytes) -> None:
        seen = (self.tail + data).count(b"event: tick")
        self.tail = data[-16:]
        if seen:
            now = time.monotonic()
            self.events += seen
            self.times.extend([now] * seen)


class Conditional(asyncio.Protocol):
    REQUEST = f"GET /p HTTP/1.1\r\nHost: bench\r\nIf-None-Match: {ETAG}\r\n\r\n".encode()

    def __init__(self, stop_at: float) -> None:
        self.count = 0
        self.stop_at = stop_at
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.REQUEST)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        n = data.count(b" 304 ")
        self.count += n
        if n and time.monotonic() < self.stop_at:
            self.transport.write(self.REQUEST)


async def get(port: int, path: str) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
    data = await reader.read()
    writer.close()
    return data.split(b"\r\n\r\n", 1)[1]


async def wait_for(pred: Any, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            return False
        await asyncio.sleep(0.01)
    return True


async def measure(port: int, subscribers: int, rounds: int, seconds: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    rss0 = int(await get(port, "/rss"))
    subs: list[Subscriber] = []
    transports = []
    for start in range(0, subscribers, 200):  # in bursts, as a fleet restarting would
        batch = await asyncio.gather(*(loop.create_connection(Subscriber, "127.0.0.1", port)
                                       for _ in range(start, min(subscribers, start + 200))))
        transports += [t for t, _ in batch]
        subs += [p for _, p in batch]
    held = await wait_for(lambda: all(s.events >= 1 for s in subs), 60)
    rss1 = int(await get(port, "/rss"))
    latencies: list[float] = []
    all_notified = True
    for r in range(rounds):
        t0 = time.monotonic()
        await get(port, "/publish")
        ok = await wait_for(lambda r=r: all(s.events >= r + 2 for s in subs), 30)
        all_notified = all_notified and ok
        latencies += [s.times[r + 1] - t0 for s in subs if len(s.times) > r + 1]
    for t in transports:
        t.close()
    stop_at = time.monotonic() + seconds
    conns = [await loop.create_connection(lambda: Conditional(stop_at), "127.0.0.1", port) for _ in range(8)]
    await asyncio.sleep(seconds + 0.5)
    count = sum(p.count for _, p in conns)
    for t, _ in conns:
        t.close()
    latencies.sort()
    return {
        "subscribers_held": held, "all_notified": all_notified,
        "notify_p50_ms": round(1000 * latencies[len(latencies) // 2], 1) if latencies else None,
        "notify_p99_ms": round(1000 * latencies[int(len(latencies) * 0.99) - 1], 1) if latencies else None,
        "notify_max_ms": round(1000 * latencies[-1], 1) if latencies else None,
        "rss_per_subscriber_kb": round((rss1 - rss0) / subscribers / 1024, 1),
        "conditional_per_s": round(count / seconds),
    }


def raise_nofile() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def run_stack(stack: str, args: argparse.Namespace) -> dict[str, Any]:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    env = dict(os.environ)
    extra = os.environ.get("BENCH_EXTRA_PATH")  # where httptools lives when not in this environment
    if extra:
        env["PYTHONPATH"] = extra + os.pathsep + env.get("PYTHONPATH", "")
    server = subprocess.Popen([sys.executable, __file__, "--serve", stack, "--port", str(port)], env=env)
    try:
        async def ready() -> None:
            for _ in range(500):
                try:
                    await get(port, "/rss")
                    return
                except OSError:
                    await asyncio.sleep(0.02)
            raise RuntimeError(f"{stack} did not start")

        asyncio.run(ready())
        return asyncio.run(measure(port, args.subscribers, args.rounds, args.seconds))
    finally:
        server.kill()  # held streams would make a graceful stop wait; nothing is left to measure
        server.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--subscribers", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=3.0, help="length of the 304 run")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--serve", choices=["aiohttp", "starlette"], help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    raise_nofile()
    if args.serve:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", args.port))
        (serve_aiohttp if args.serve == "aiohttp" else serve_starlette)(sock)
        return
    import importlib.util

    parser = "httptools" if importlib.util.find_spec("httptools") else "h11"
    if os.environ.get("BENCH_EXTRA_PATH"):
        parser = "httptools (from BENCH_EXTRA_PATH)"
    out: dict[str, Any] = {"subscribers": args.subscribers, "runs": args.runs, "uvicorn_parser": parser,
                           "cores": os.cpu_count(), "stacks": {}}
    for stack in ("aiohttp", "starlette"):
        runs = [run_stack(stack, args) for _ in range(args.runs)]
        out["stacks"][stack] = {k: (statistics.median(r[k] for r in runs) if isinstance(runs[0][k], (int, float))
                                    and not isinstance(runs[0][k], bool) else all(r[k] for r in runs))
                                for k in runs[0]}
    with open("/proc/loadavg") as f:
        out["loadavg"] = f.read().split()[:3]
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
