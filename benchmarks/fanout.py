"""`safeflags serve` at fleet scale: held subscribers, publish -> all notified, and 304s per second.

    python benchmarks/fanout.py [--subscribers 1000,10000] [--runs 3] [--seconds 3] [--watch-interval 0.2]

Starts `safeflags serve` (one process, the CLI as shipped) on a temporary
file:// store. This process is the client: raw asyncio sockets, its open-file
limit raised to the hard limit. For each subscriber count it holds that many
SSE streams (`GET /events?channel=prod`), then publishes --runs times; each
run measures, per subscriber, from `publish()` returning (the pointer moved in
the store) to the stream delivering the new version. That includes the
server's watch interval (the publish lands at a random point of it), so p50
is about half of --watch-interval. Then 304s per second: conditional GETs of
the channel pointer with `If-None-Match`, over keep-alive connections, for
--seconds, --runs times. The machine has 2 cores and the client competes with
the server for them: the rates are what one server process reaches with its
client beside it, not on a machine of its own.

Prints JSON: medians over the runs (each run's figures beside them), the
server's RSS, and /proc/loadavg before and after.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from delivery_latency import bundle  # the same 200-flag bundle, numbered (a sibling script)

from safeflags.store import open_store

CHANNEL = "prod"


def loadavg() -> list[str]:
    with open("/proc/loadavg") as f:
        return f.read().split()[:3]


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


class Stream(asyncio.Protocol):
    """One subscriber: notes when each version first shows up in its stream."""

    REQUEST = f"GET /events?channel={CHANNEL} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    VERSION = re.compile(rb'"version": (\d+)')

    def __init__(self) -> None:
        self.seen: dict[int, float] = {}
        self.tail = b""
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(self.REQUEST)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        text = self.tail + data
        for m in self.VERSION.finditer(text):
            self.seen.setdefault(int(m.group(1)), now)
        self.tail = text[-32:]

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True


class Conditional(asyncio.Protocol):
    def __init__(self, request: bytes, stop_at: float):
        self.request, self.stop_at, self.count = request, stop_at, 0
        self.transport: asyncio.Transport | None = None
        self.done = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        n = data.count(b"HTTP/1.1 304 ")
        self.count += n
        if n and self.transport is not None:
            if time.monotonic() < self.stop_at:
                self.transport.write(self.request)
            elif not self.done.done():
                self.done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def until(pred: Any, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            return False
        await asyncio.sleep(0.02)
    return True


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))]


def publish(store: Any, data: bytes) -> float:
    """Publish; when it returned (the pointer moved), on the clock every process shares."""
    store.publish(data, CHANNEL)
    return time.monotonic()


async def fan_out(port: int, store: Any, count: int, runs: int, version: list[int], pid: int) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    rss_before = rss_mb(pid)
    streams: list[tuple[asyncio.BaseTransport, Stream]] = []
    started = time.monotonic()
    for start in range(0, count, 500):  # in bursts, as a fleet restarting would
        streams += await asyncio.gather(*(loop.create_connection(Stream, "127.0.0.1", port)
                                          for _ in range(start, min(count, start + 500))))
    current = version[0]
    held = await until(lambda: all(current in s.seen for _, s in streams), 120)
    connect_s = round(time.monotonic() - started, 2)
    rss_held = rss_mb(pid)
    results = []
    for _ in range(runs):
        version[0] += 1
        n = version[0]
        done_at = await loop.run_in_executor(None, publish, store, bundle(n))
        notified = await until(lambda n=n: all(n in s.seen for _, s in streams), 30)
        lat = [s.seen[n] - done_at for _, s in streams if n in s.seen]
        results.append({"all_notified": notified, "notified": len(lat),
                        "p50_ms": round(1000 * pct(lat, 0.50), 1), "p99_ms": round(1000 * pct(lat, 0.99), 1),
                        "max_ms": round(1000 * max(lat), 1)})
        await asyncio.sleep(0.5)  # let the server settle between publishes
    for t, _ in streams:
        t.close()
    return {
        "subscribers": count, "held": held and not any(s.lost for _, s in streams), "connect_s": connect_s,
        "all_notified": all(r["all_notified"] for r in results),
        **{k: statistics.median(r[k] for r in results) for k in ("p50_ms", "p99_ms", "max_ms")},
        "server_rss_mb": {"before": rss_before, "held": rss_held,
                          "per_subscriber_kb": round((rss_held - rss_before) * 1024 / count, 1)},
        "runs": results,
    }


async def conditional_rate(port: int, seconds: float, connections: int) -> float:
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET /channels/{CHANNEL}.json HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
    head = (await reader.read()).split(b"\r\n\r\n")[0].decode()
    writer.close()
    etag = re.search(r"(?im)^etag: (.+)$", head).group(1).strip()  # type: ignore[union-attr]
    request = (f"GET /channels/{CHANNEL}.json HTTP/1.1\r\nHost: bench\r\n"
               f"If-None-Match: {etag}\r\n\r\n").encode()
    stop_at = time.monotonic() + seconds
    conns = [await loop.create_connection(lambda: Conditional(request, stop_at), "127.0.0.1", port)
             for _ in range(connections)]
    started = time.monotonic()
    await asyncio.wait_for(asyncio.gather(*(p.done for _, p in conns)), seconds + 30)
    elapsed = time.monotonic() - started
    for t, _ in conns:
        t.close()
    return round(sum(p.count for _, p in conns) / elapsed)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--subscribers", default="1000,10000", help="comma-separated subscriber counts")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3.0, help="length of each 304 run")
    ap.add_argument("--connections", type=int, default=16, help="keep-alive connections for the 304 runs")
    ap.add_argument("--watch-interval", type=float, default=0.2, help="the server's (its default: 0.2)")
    args = ap.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    counts = [int(c) for c in args.subscribers.split(",")]
    if max(counts) + 200 > hard:
        sys.exit(f"the hard open-file limit is {hard}: too low for {max(counts)} subscribers")
    out: dict[str, Any] = {"cores": os.cpu_count(), "nofile": hard, "loadavg_before": loadavg(),
                           "watch_interval": args.watch_interval}
    with tempfile.TemporaryDirectory() as tmp:
        url = f"file://{tmp}/store"
        store = open_store(url, create=True)
        store.publish(bundle(1), CHANNEL)
        server = subprocess.Popen(
            [sys.executable, "-m", "safeflags.cli.main", "serve", "--store", url, "--port", "0",
             "--watch-interval", str(args.watch_interval), "--max-connections-per-client", "0"],
            stderr=subprocess.PIPE, text=True)
        try:
            assert server.stderr is not None
            line = server.stderr.readline()
            match = re.search(r"on http://127\.0\.0\.1:(\d+)", line)
            if match is None:
                sys.exit(f"safeflags serve did not start: {line}{server.stderr.read()}")
            port = int(match.group(1))
            version = [1]
            out["fanout"] = [asyncio.run(fan_out(port, store, n, args.runs, version, server.pid)) for n in counts]
            rates = [asyncio.run(conditional_rate(port, args.seconds, args.connections)) for _ in range(args.runs)]
            out["conditional_304_per_s"] = {"median": statistics.median(rates), "runs": rates,
                                            "connections": args.connections, "target": 5000}
        finally:
            server.terminate()
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    out["loadavg_after"] = loadavg()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
