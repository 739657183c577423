"""Evaluation speed of one SDK on the three benchmark flags; prints one JSON line.

    python benchmarks/evaluation.py --sdk safeflags --bundle build/bundle.pb [--calls 200000]

Each SDK runs in its own process (peers start background threads). Method:
10,000 distinct contexts are cycled; after a warm-up of one pass over them,
`--calls` calls are timed in batches of 100 with `perf_counter_ns`. Per-call
time of a batch = (batch time - the same loop with an empty body) / 100.
The mean is over all calls, p95 over the batches' per-call times (a batch
of 100 is long enough for the timer's own ~50 ns to vanish).
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers import PEERS, Ctx

BATCH = 100
SAFEFLAGS_KEYS = {"a": "bench.plain_on", "b": "bench.country_pro", "c": "bench.rollout_10"}
STATIC = {"cloud": "aws", "region": "us-east-1", "environment": "prod", "service": "api", "service_version": "3.2.0",
          "arch": "x86_64"}


def contexts(n: int = 10_000, seed: int = 1) -> list[Ctx]:
    rng = random.Random(seed)
    countries = ["US", "CA", "GB", "DE", "FR", "JP", "BR", "IN"]
    return [{"user_id": f"user-{i:05d}", "country": rng.choice(countries),
             "plan": rng.choice(["free", "pro", "enterprise"])} for i in range(n)]


def _empty_loop_ns(batch: list[Any]) -> float:
    best = float("inf")
    for _ in range(200):
        t0 = time.perf_counter_ns()
        for _ctx in batch:
            pass
        best = min(best, time.perf_counter_ns() - t0)
    return best


def measure(fn: Callable[[str, bool, Any], Any], key: str, ctxs: list[Any], calls: int) -> dict[str, float]:
    batches = [ctxs[i:i + BATCH] for i in range(0, len(ctxs), BATCH)]
    for ctx in ctxs:  # warm-up: every context once
        fn(key, False, ctx)
    overhead = _empty_loop_ns(batches[0])
    per_call: list[float] = []
    total = 0
    n = 0
    perf = time.perf_counter_ns
    while n < calls:
        for batch in batches:
            t0 = perf()
            for ctx in batch:
                fn(key, False, ctx)
            dt = perf() - t0 - overhead
            total += dt
            per_call.append(dt / len(batch))
            n += len(batch)
            if n >= calls:
                break
    per_call.sort()
    return {"mean_ns": total / n, "p95_ns": per_call[int(0.95 * (len(per_call) - 1))],
            "p50_ns": statistics.median(per_call), "calls": n, "loop_overhead_ns": overhead / BATCH}


def share_on(fn: Callable[[str, bool, Any], Any], key: str, ctxs: list[Any]) -> float:
    """Sanity check that SDKs agree on what the flag means: the share of
    contexts that get `True` (a: 1, b: ~0.125, c: ~0.10)."""
    return sum(1 for c in ctxs if fn(key, False, c) is True) / len(ctxs)


def setup_safeflags(bundle: Path, path: str) -> tuple[dict[str, str], Callable[[str, bool, Any], Any]]:
    import safeflags

    client = safeflags.Client.from_bytes(bundle.read_bytes(), static=STATIC)
    if path == "get_bool":
        return SAFEFLAGS_KEYS, client.get_bool
    if path == "details":
        return SAFEFLAGS_KEYS, client.details
    # The OpenFeature provider path, through the standard client.
    from openfeature import api

    from safeflags.openfeature import SafeflagsProvider  # type: ignore[import-not-found]

    api.set_provider(SafeflagsProvider(client))
    of = api.get_client()
    from openfeature.evaluation_context import EvaluationContext

    def call(key: str, default: bool, ctx: Any) -> Any:
        return of.get_boolean_value(key, default, ctx)

    call.contexts = lambda cs: [EvaluationContext(targeting_key=c["user_id"], attributes=dict(c)) for c in cs]  # type: ignore[attr-defined]
    return SAFEFLAGS_KEYS, call


def run(sdk: str, bundle: Path | None, flags: int, calls: int) -> dict[str, Any]:
    ctxs: list[Any] = contexts()
    if sdk.startswith("safeflags"):
        assert bundle is not None
        keys, fn = setup_safeflags(bundle, sdk.partition(":")[2] or "get_bool")
        if hasattr(fn, "contexts"):
            ctxs = fn.contexts(ctxs)
    else:
        call, ctxs = PEERS[sdk](flags, ctxs)
        keys, fn = {k: k for k in "abc"}, call
    out: dict[str, Any] = {"sdk": sdk}
    for flag, key in keys.items():
        check = fn if sdk != "safeflags:details" else (lambda k, d, c: fn(k, d, c).value)
        out[flag] = measure(fn, key, ctxs, calls) | {"share_on": share_on(check, key, ctxs)}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sdk", required=True,
                    help="safeflags[:get_bool|details|openfeature] or a peer: " + ", ".join(PEERS))
    ap.add_argument("--bundle", type=Path, help="the compiled bundle (safeflags)")
    ap.add_argument("--flags", type=int, default=25_000, help="flags loaded into a peer SDK")
    ap.add_argument("--calls", type=int, default=200_000)
    args = ap.parse_args(argv)
    print(json.dumps(run(args.sdk, args.bundle, args.flags, args.calls)))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
