"""`safeflags flips` at scale: 25,000 flags, 50 published versions; prints one JSON line.

    python benchmarks/flips.py [BUNDLE] [--versions 50] [--changes 4]

The base bundle is the generated 25,000-flag repository, compiled
(benchmarks/generate_repo.py, then compile; reused from benchmarks/out when
there). Each later version changes a few flags the way ramps and kills do:
a rollout bucket moved, a flag switched off or on, and one edit that only
moves a source line (bytes differ, served values do not). The time is one
whole `flips` query over every pair, from a cold bundle cache, for a process
pinned to region=eu-west-1: the median of 3, with the load average.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT = HERE / "out" / "repo-25000" / "build" / "bundle.pb"


def base_bundle(path: Path) -> bytes:
    if path.exists():
        return path.read_bytes()
    import subprocess

    from safeflags.compile.driver import compile_repo

    repo = path.parents[1]
    subprocess.run([sys.executable, str(HERE / "generate_repo.py"), str(repo), "--flags", "25000", "--no-git"],
                   check=True)
    result = compile_repo(repo, revision="bench")
    assert not result.errors, result.errors[:3]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(result.data)
    return result.data


def mutate(bundle: object, rng: random.Random, changes: int) -> None:
    from safeflags.v1 import bundle_pb2

    assert isinstance(bundle, bundle_pb2.Bundle)
    for i in range(changes):
        flag = bundle.flags[rng.randrange(len(bundle.flags))]
        buckets = [r for r in flag.rules if r.when.WhichOneof("node") == "bucket"]
        if i == changes - 1 and flag.rules:
            flag.rules[0].line += 1  # a layout edit: new bytes, same behaviour
        elif buckets and i % 2 == 0:
            b = buckets[0].when.bucket
            b.hi = min(100_000, b.hi + 5_000)
        else:
            flag.disabled = not flag.disabled


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("bundle", nargs="?", type=Path, default=DEFAULT)
    ap.add_argument("--versions", type=int, default=50)
    ap.add_argument("--changes", type=int, default=4)
    args = ap.parse_args(argv)

    from safeflags.ops.flips import flips
    from safeflags.store import open_store
    from safeflags.v1 import bundle_pb2

    data = base_bundle(args.bundle)
    bundle = bundle_pb2.Bundle.FromString(data)
    rng = random.Random(13)
    with tempfile.TemporaryDirectory() as tmp:
        st = open_store(f"file://{tmp}/store", create=True)
        t0 = time.perf_counter()
        for n in range(args.versions):
            if n:
                mutate(bundle, rng, args.changes)
            st.publish(bundle.SerializeToString(deterministic=True), "prod", source_revision=f"rev{n}")
        built = time.perf_counter() - t0
        times, found = [], 0
        for _ in range(3):
            t = time.perf_counter()
            found = len(flips(st, "prod", static=["region=eu-west-1"]))
            times.append(time.perf_counter() - t)
    print(json.dumps({
        "benchmark": "flips", "flags": len(bundle.flags), "versions": args.versions,
        "changes_per_version": args.changes, "flips_listed": found, "store_built_s": round(built, 2),
        "median_s": round(statistics.median(times), 3), "runs_s": [round(t, 3) for t in times],
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
