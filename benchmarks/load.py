"""Bundle load time and memory, in a fresh process; prints one JSON line.

    python benchmarks/load.py BUNDLE

Load = decode + verify the digest + pre-evaluate static dimensions + ready
(`Client.from_bytes`, then the first evaluation of each benchmark flag).
Memory = growth of resident set size (VmRSS) across the load, with the
bundle's bytes already in memory and the SDK already imported.
"""
from __future__ import annotations

import gc
import json
import sys
import time
from pathlib import Path


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    t_import = time.perf_counter()
    import safeflags

    # The package root resolves names on first use: touch the client here so
    # the SDK's modules are imported before the load is timed (as documented).
    client_class = safeflags.Client
    imported = time.perf_counter() - t_import
    data = Path(args[0]).read_bytes()
    static = {"cloud": "aws", "region": "us-east-1", "environment": "prod", "service": "api",
              "service_version": "3.2.0", "arch": "x86_64"}
    gc.collect()
    before = rss_bytes()
    t0 = time.perf_counter()
    client = client_class.from_bytes(data, static=static)
    loaded = time.perf_counter() - t0
    for key in ("bench.plain_on", "bench.country_pro", "bench.rollout_10"):
        client.get_bool(key, False, {"user_id": "u1", "country": "US", "plan": "pro"})
    ready = time.perf_counter() - t0
    gc.collect()
    after = rss_bytes()
    print(json.dumps({"import_s": imported, "load_s": loaded, "ready_s": ready, "rss_growth_bytes": after - before,
                      "rss_after_bytes": after, "bundle_bytes": len(data)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
