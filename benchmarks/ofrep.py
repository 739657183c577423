"""OFREP over `safeflags serve`: single-flag and bulk latency, and requests per second.

    python benchmarks/ofrep.py [--repo PATH | --bundle FILE] [--runs 3] [--requests 2000] [--bulk-requests N]
                               [--seconds 3] [--connections 8] [--static-contexts 1]

One `safeflags serve` process (FlagServer with ofrep_channel, over a file://
store holding the compiled repository, by default this one's example) and a
client in this process on raw asyncio sockets with keep-alive, so the client
costs little of the 2 cores it shares with the server. Per run:

- single: `POST /ofrep/v1/evaluate/flags/{key}`, one connection, one request at
  a time, cycling through every flag and 16 contexts spread over
  `--static-contexts` static contexts (regions);
- bulk_first_context: the first bulk answer for a static context (region) no
  earlier request named;
- bulk: `POST /ofrep/v1/evaluate/flags`, 200 answers, each for a context no
  earlier request named (a fresh targetingKey, the same static contexts), so
  none is a cached body; bulk_repeat: the same contexts asked again (what a
  provider re-fetching after a restart sends); bulk_304 with `If-None-Match`
  (what a polling static-context provider sends);
- single_rps / bulk_304_rps: `--connections` keep-alive connections for `--seconds`.

Prints JSON: the median of `--runs` per figure, each run's figures, the
server's CPU time per request of each phase (all its threads, from /proc, so
other work on a shared machine does not count), its resident memory after each
run, and the load average before and after.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHANNEL = "prod"
REGIONS = ["eu-west-1", "us-east-1", "us-east-2", "us-west-2", "eu-central-1", "ca-central-1", "ap-northeast-1",
           "ap-southeast-2", "us-central1", "us-east4", "europe-west1", "europe-west4", "asia-northeast1"]

SERVER = """
import sys
from safeflags.serve import FlagServer
from safeflags.store import open_store
server = FlagServer(open_store(sys.argv[1]), ofrep_channel="prod").start()
print(server.url, flush=True)
sys.stdin.read()
server.close()
"""


class Connection:
    """One keep-alive HTTP/1.1 connection: a request, then its whole answer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        return cls(*await asyncio.open_connection(host, port))

    async def post(self, path: str, body: bytes, etag: str | None = None) -> tuple[int, dict[str, str], bytes]:
        extra = f"If-None-Match: {etag}\r\n" if etag else ""
        self.writer.write(f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                          f"Content-Length: {len(body)}\r\n{extra}\r\n".encode() + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        n = int(headers.get("content-length", "0"))
        return status, headers, await self.reader.readexactly(n) if n else b""

    def close(self) -> None:
        self.writer.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bodies(n: int, static_contexts: int = 1) -> list[bytes]:
    return [json.dumps({"context": {"targetingKey": f"user-{i}", "workspace_id": f"ws-{i % 7}", "environment": "prod",
                                    "region": REGIONS[i % static_contexts]}}).encode() for i in range(n)]


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        line = next(line for line in f if line.startswith("VmRSS:"))
    return round(int(line.split()[1]) / 1024, 1)


def cpu_ms(pid: int) -> float:
    """User + system CPU the server process has used (all its threads), in ms."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


async def latency(host: str, port: int, args: argparse.Namespace, flags: list[str], pid: int,
                  run: int) -> dict[str, float]:
    conn = await Connection.open(host, port)
    contexts = bodies(16, args.static_contexts)
    # A context no earlier request named (its targetingKey), so no answer of it is cached, and for
    # the first bulk one a static context (region) no earlier request named either.
    fresh = [json.dumps({"context": {**json.loads(b)["context"], "targetingKey": f"r{run}-{i}"}}).encode()
             for i, b in enumerate(bodies(args.requests, args.static_contexts))]
    first = json.dumps({"context": {"targetingKey": f"first-{run}", "environment": "prod",
                                    "region": REGIONS[(args.static_contexts + run) % len(REGIONS)]}}).encode()
    out: dict[str, float] = {}
    bulk = args.bulk_requests if args.bulk_requests is not None else max(1, args.requests // 4)
    phases = (("bulk_first_context", 1), ("single", args.requests), ("bulk", bulk), ("bulk_repeat", bulk),
              ("bulk_304", args.requests))
    try:
        for name, count in phases:
            times = []
            etag = None
            if name == "bulk_304":
                _, headers, _ = await conn.post("/ofrep/v1/evaluate/flags", contexts[0])
                etag = headers["etag"]
            cpu = cpu_ms(pid)
            for i in range(count):
                path = (f"/ofrep/v1/evaluate/flags/{flags[i % len(flags)]}" if name == "single"
                        else "/ofrep/v1/evaluate/flags")
                body = (first if name == "bulk_first_context" else contexts[0] if etag
                        else fresh[i] if name == "bulk" else fresh[i % bulk] if name == "bulk_repeat"
                        else contexts[i % len(contexts)])
                start = time.perf_counter()
                status, _, _ = await conn.post(path, body, etag)
                times.append(time.perf_counter() - start)
                if status != (304 if etag else 200):
                    raise SystemExit(f"{name}: unexpected status {status}")
            out[f"{name}_server_cpu_ms_per_request"] = round((cpu_ms(pid) - cpu) / count, 3)
            out[f"{name}_p50_ms"] = round(statistics.median(times) * 1000, 3)
            out[f"{name}_p99_ms"] = round(percentile(times, 0.99) * 1000, 3)
    finally:
        conn.close()
    return out


async def throughput(host: str, port: int, args: argparse.Namespace, flags: list[str], conditional: bool) -> float:
    seconds, connections = args.seconds, args.connections
    contexts = bodies(16, args.static_contexts)
    setup = await Connection.open(host, port)
    _, headers, _ = await setup.post("/ofrep/v1/evaluate/flags", contexts[0])
    setup.close()
    etag = headers["etag"] if conditional else None
    deadline = time.perf_counter() + seconds
    done = [0]

    async def worker(k: int) -> None:
        conn = await Connection.open(host, port)
        i = k
        try:
            while time.perf_counter() < deadline:
                if conditional:
                    await conn.post("/ofrep/v1/evaluate/flags", contexts[0], etag)
                else:
                    await conn.post(f"/ofrep/v1/evaluate/flags/{flags[i % len(flags)]}", contexts[i % 16])
                i += 1
                done[0] += 1
        finally:
            conn.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(connections)))
    return round(done[0] / (time.perf_counter() - start), 1)


def compile_bundle(repo: Path) -> bytes:
    from safeflags.compile.driver import compile_repo

    return compile_repo(repo, revision="bench").data


def one_run(url: str, args: argparse.Namespace, flags: list[str], pid: int, run: int) -> dict[str, float]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    figures = asyncio.run(latency(host, int(port), args, flags, pid, run))
    figures["single_rps"] = asyncio.run(throughput(host, int(port), args, flags, False))
    figures["bulk_304_rps"] = asyncio.run(throughput(host, int(port), args, flags, True))
    figures["server_rss_mb"] = rss_mb(pid)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", type=Path, default=ROOT, help="flag repository to compile (default: the example)")
    parser.add_argument("--bundle", type=Path, help="a compiled bundle to serve instead of compiling --repo")
    parser.add_argument("--bulk-requests", type=int, help="bulk 200s per run (default: --requests / 4)")
    parser.add_argument("--static-contexts", type=int, default=1, choices=range(1, len(REGIONS) + 1),
                        metavar="K", help="distinct static contexts (regions) the requests spread over")
    parser.add_argument("--runs", type=int, default=3, help=f"at most {len(REGIONS) - 2} with --static-contexts 1")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()

    from safeflags.sdk.snapshot import Snapshot
    from safeflags.store import open_store

    data = args.bundle.read_bytes() if args.bundle else compile_bundle(args.repo)
    flags = sorted(Snapshot.from_bytes(data).flags)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        store_url = f"file://{tmp}/store"
        open_store(store_url, create=True).publish(data, CHANNEL)
        server = subprocess.Popen([sys.executable, "-c", SERVER, store_url], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        try:
            assert server.stdout is not None
            url = server.stdout.readline().strip()
            warm = argparse.Namespace(**{**vars(args), "requests": 50, "bulk_requests": 1, "seconds": 0.2})
            idle_rss = rss_mb(server.pid)
            one_run(url, warm, flags, server.pid, 0)
            runs = [one_run(url, args, flags, server.pid, run) for run in range(1, args.runs + 1)]
        finally:
            assert server.stdin is not None
            server.stdin.close()
            server.wait(30)
    median = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    print(json.dumps({"flags": len(flags), "bundle_bytes": len(data), "runs": args.runs,
                      "connections": args.connections, "static_contexts": args.static_contexts,
                      "server_rss_mb_before_requests": idle_rss, "median": median, "each_run": runs,
                      "loadavg_before": [round(x, 2) for x in load_before],
                      "loadavg_after": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count()}, indent=2))


if __name__ == "__main__":
    main()
