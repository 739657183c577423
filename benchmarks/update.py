"""What one one-flag publish costs a delivery client, end to end; prints JSON.

    python benchmarks/update.py [--flags 25000] [--runs 3] [--bundle PATH]

A real Delivery (warm, as `safeflags.Client` defaults) follows a file:// store.
The base bundle is benchmarks/out/repo-25000/build/bundle.pb (written by
benchmarks/run.py) or --bundle; with --flags above its size, its flags are
cloned under new keys until there are that many. Each run publishes the bundle
with one flag changed (its source line moved, so its bytes change) and calls
`delivery.refresh()` on a thread of its own, measuring that thread's CPU
(time.thread_time), the wall time, and the bytes the client downloaded.

Two paths: "pieces" (the store has manifests and chunks: the client fetches the
manifest and the changed chunks) and "whole" (the manifests deleted before each
refresh, as an older store has none: the client downloads the whole bundle).
Medians over --runs runs, each path on a store of its own (and a Delivery of its own).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from safeflags.delivery import Delivery, start_delivery
from safeflags.sdk.evaluator import Evaluator
from safeflags.store import open_store
from safeflags.v1 import bundle_pb2

HERE = Path(__file__).resolve().parent
BASE = HERE / "out" / "repo-25000" / "build" / "bundle.pb"
STATIC = {"cloud": "aws", "region": "us-east-1", "environment": "prod", "service": "api",
          "service_version": "3.2.0", "arch": "x86_64"}


def base_bundle(path: Path, flags: int) -> bundle_pb2.Bundle:
    if not path.is_file():
        raise SystemExit(f"no bundle at {path}: run benchmarks/run.py first (it compiles the 25,000-flag repo), "
                         "or pass --bundle")
    bundle = bundle_pb2.Bundle.FromString(path.read_bytes())
    have = len(bundle.flags)
    if flags > have:
        originals = list(bundle.flags)
        copy = 0
        while len(bundle.flags) < flags:
            copy += 1
            for f in originals[: flags - len(bundle.flags)]:
                clone = bundle.flags.add()
                clone.CopyFrom(f)
                clone.key = f"{f.key}.clone{copy}"
        ordered = sorted(bundle.flags, key=lambda f: f.key)
        del bundle.flags[:]
        bundle.flags.extend(ordered)
    return bundle


def changed(bundle: bundle_pb2.Bundle, run: int) -> bytes:
    """The bundle with flag number `run * 7919 % n` moved one line down."""
    flag = bundle.flags[(run * 7919) % len(bundle.flags)]
    flag.line += 1
    return bundle.SerializeToString(deterministic=True)


def refresh_on_own_thread(delivery: Delivery) -> dict[str, float]:
    out: dict[str, float] = {}

    def work() -> None:
        cpu, wall = time.thread_time(), time.perf_counter()
        out["updated"] = float(delivery.refresh())
        out["cpu_s"], out["wall_s"] = time.thread_time() - cpu, time.perf_counter() - wall

    t = threading.Thread(target=work, name="bench-refresh")
    t.start()
    t.join()
    return out


def measure(bundle: bundle_pb2.Bundle, runs: int, whole: bool) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="sf-update-"))
    try:
        store = open_store(f"file://{root}", create=True)
        store.publish(bundle.SerializeToString(deterministic=True), "bench")
        t0 = time.perf_counter()
        delivery = start_delivery(Evaluator(static=STATIC), store=f"file://{root}", channel="bench",
                                  poll_interval=3600, push=False, warm=True)
        started = time.perf_counter() - t0
        rows: list[dict[str, Any]] = []
        try:
            for run in range(1, runs + 1):
                data = changed(bundle, run)
                p0 = time.perf_counter()
                store.publish(data, "bench")
                published = time.perf_counter() - p0
                if whole:
                    shutil.rmtree(root / "manifests", ignore_errors=True)
                row = refresh_on_own_thread(delivery)
                st = delivery.status()
                if not row["updated"] or st.faults:
                    raise SystemExit(f"refresh did not update: {st}")
                rows.append({**row, "bytes": st.fetched_bytes, "how": st.fetched, "publish_s": published})
        finally:
            delivery.close()
        return {
            "how": sorted({r["how"] for r in rows}),
            "bytes_per_update": statistics.median(r["bytes"] for r in rows),
            "refresh_cpu_s": statistics.median(r["cpu_s"] for r in rows),
            "refresh_wall_s": statistics.median(r["wall_s"] for r in rows),
            "publish_s": statistics.median(r["publish_s"] for r in rows),
            "start_s": started,
            "runs": rows,
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--flags", type=int, default=25_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--bundle", type=Path, default=BASE)
    args = ap.parse_args(argv)
    bundle = base_bundle(args.bundle, args.flags)
    size = len(bundle.SerializeToString(deterministic=True))
    fig = {"flags": len(bundle.flags), "bundle_bytes": size, "runs": args.runs,
           "load_average": os.getloadavg(), "cpus": os.cpu_count(),
           "pieces": measure(bundle, args.runs, whole=False),
           "whole": measure(bundle, args.runs, whole=True)}
    print(json.dumps(fig, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
