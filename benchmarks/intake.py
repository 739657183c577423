"""What a process pays to take in a one-flag change, at 25,000 and 250,000 flags.

    python benchmarks/intake.py                    # both sizes, 3 runs each
    python benchmarks/intake.py --flags 25000 --runs 5

Prints JSON. Each size runs in fresh worker processes:

- "new": a warmed snapshot takes in the changed bundle the way the delivery
  client does (Snapshot.from_pieces(previous=current), then warm(), then
  Evaluator.swap); the chunks it already holds are passed as the very objects
  its chunk_index() returned, as the delivery client does. Runs alternate
  between the two versions, so every run is a real one-flag change.
- "old": the path before incremental intake: Snapshot.from_bytes(data) + warm().
- "footprint": steady-state RSS of a warmed snapshot, the time of a full
  gc.collect() over it without and with gc.freeze() after the swap
  (Evaluator.freeze_on_swap), and the same figures with the per-flag protobuf
  messages dropped (PreparedFlag.flag and .spec set to None, the flag index and
  bundle gone): an estimate of that option, which is not implemented.

Figures, per run, median reported:
- cpu_ms: time.thread_time() of the thread doing the intake;
- a request thread evaluates flags continuously meanwhile; during the window
  (from the start of the intake to 200 ms after the swap, so first uses after
  the swap count) stall_ms is the longest gap between two of its evaluations
  and p999_ms / max_ms the 99.9th percentile and maximum per-call latency
  ("idle_median": the same figures over as long a window with no intake, the
  noise of a shared machine);
- transient_rss_mb: peak RSS (VmHWM, reset by `echo 5 > /proc/self/clear_refs`
  just before the intake) minus the RSS just before it;
- steady_rss_mb: RSS after the swap minus RSS before (the old snapshot dropped).

The 25,000-flag bundle is benchmarks/out/repo-25000/build/bundle.pb (built with
generate_repo.py and the compiler when absent). The 250,000-flag bundle is
synthesised: the 25,000 flags cloned under prefixed keys ("cloneNN.<key>", the
clones' prerequisites renamed alike), sorted by key, serialised
deterministically; it is cached as benchmarks/out/intake-<n>.pb.
"""
from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from array import array
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
PY = sys.executable
BASE = OUT / "repo-25000" / "build" / "bundle.pb"
WINDOW_TAIL_S = 0.2


def rss_mb() -> float:
    return _status("VmRSS")


def hwm_mb() -> float:
    return _status("VmHWM")


def _status(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def reset_hwm() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def base_bundle() -> bytes:
    if not BASE.exists():
        sys.path.insert(0, str(HERE))
        from generate_repo import generate

        repo = BASE.parent.parent
        generate(repo, 25_000)
        subprocess.run([PY, "-m", "safeflags.cli.main", "compile", "-o", str(BASE), "--repo", str(repo)], check=True)
    return BASE.read_bytes()


def bundle_of(n: int) -> tuple[Path, str]:
    """The path of an n-flag bundle and how it was made."""
    from safeflags.v1 import bundle_pb2

    data = base_bundle()
    base = bundle_pb2.Bundle.FromString(data)
    if n == len(base.flags):
        return BASE, "benchmarks/out/repo-25000/build/bundle.pb (generate_repo.py + compiler)"
    path = OUT / f"intake-{n}.pb"
    how = (f"synthesised: the {len(base.flags):,} flags of {BASE.relative_to(HERE.parent)} cloned under "
           "prefixed keys (cloneNN.<key>, prerequisites renamed alike), sorted by key, serialised deterministically")
    if n < len(base.flags):
        how = f"the first {n:,} flags of {BASE.relative_to(HERE.parent)}"
    if path.exists():
        return path, how
    flags: list[Any] = []
    copies = -(-n // len(base.flags))
    for c in range(copies):
        prefix = "" if c == 0 else f"clone{c:02d}."
        for flag in base.flags:
            clone = bundle_pb2.CompiledFlag()
            clone.CopyFrom(flag)
            if prefix:
                clone.key = prefix + flag.key
                _rename_prerequisites(clone, prefix)
            flags.append(clone)
    flags.sort(key=lambda f: f.key)
    del base.flags[:]
    base.flags.extend(flags[:n])
    path.write_bytes(base.SerializeToString(deterministic=True))
    return path, how


def _rename_prerequisites(flag: Any, prefix: str) -> None:
    pending = [rule.when for rule in flag.rules]
    while pending:
        e = pending.pop()
        node = e.WhichOneof("node")
        if node == "flag":
            e.flag.key = prefix + e.flag.key
        elif node in ("all", "any"):
            pending.extend(getattr(e, node).items)
        elif node == "not":
            pending.append(getattr(e, "not"))


def edited(data: bytes) -> tuple[bytes, str]:
    """`data` with one flag (the middle one that has two values) serving another fallback."""
    from safeflags.v1 import bundle_pb2

    bundle = bundle_pb2.Bundle.FromString(data)
    mid = len(bundle.flags) // 2
    i = next(j for j in range(mid, len(bundle.flags)) if len(bundle.flags[j].values) > 1)
    flag = bundle.flags[i]
    flag.fallback = (flag.fallback + 1) % len(flag.values)
    return bundle.SerializeToString(deterministic=True), flag.key


class Requests:
    """A thread evaluating flags without pause; records what it saw while `recording`."""

    def __init__(self, evaluator: Any, keys: list[tuple[str, str]]):
        self.ev, self.keys = evaluator, keys
        self.recording = False
        self.stop = False
        self.latencies = array("d")
        self.max_gap = 0.0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        ev, keys, clock = self.ev, self.keys, time.perf_counter
        getters = {t: getattr(ev, f"get_{t}") for t in ("bool", "string", "int", "float", "json")}
        ctx = {"user_id": "user-42", "country": "US", "plan": "pro", "app_version": "2.14.0"}
        last = clock()
        i = 0
        while not self.stop:
            key, kind = keys[i % len(keys)]
            i += 1
            t0 = clock()
            getters[kind](key, None, ctx)
            t1 = clock()
            if self.recording:
                self.latencies.append(t1 - t0)
                self.max_gap = max(self.max_gap, t0 - last)
            last = t1

    def window(self) -> None:
        self.latencies = array("d")
        self.max_gap = 0.0
        self.recording = True

    def figures(self) -> dict[str, float]:
        self.recording = False
        lat = sorted(self.latencies)
        if not lat:
            return {"calls": 0}
        return {"calls": len(lat), "stall_ms": self.max_gap * 1e3, "p999_ms": lat[int(len(lat) * 0.999)] * 1e3,
                "max_ms": lat[-1] * 1e3}


def sample_keys(snapshot: Any, changed: str, n: int = 2000) -> list[tuple[str, str]]:
    from safeflags.sdk.evaluator import TYPE_NAMES

    keys = list(snapshot.flags)
    step = max(1, len(keys) // n)
    picked = [*keys[::step], changed]
    return [(k, TYPE_NAMES[snapshot.flags[k].type]) for k in picked]


def worker_intake(path: Path, runs: int, old: bool) -> dict[str, Any]:
    from safeflags.sdk import chunks
    from safeflags.sdk.evaluator import Evaluator
    from safeflags.sdk.snapshot import Snapshot

    a = path.read_bytes()
    b, changed = edited(a)
    versions = [a, b]
    current = Snapshot.from_bytes(a)
    current.warm()
    ev = Evaluator(current)
    requests = Requests(ev, sample_keys(current, changed))
    del current
    requests.thread.start()
    gc.collect()
    out: list[dict[str, Any]] = []
    idle: list[dict[str, float]] = []
    for run in range(runs):
        time.sleep(0.3)
        requests.window()  # the same window with no intake: the machine's own noise
        time.sleep(WINDOW_TAIL_S + 0.05)
        idle.append(requests.figures())
        data = versions[(run + 1) % 2]
        digest = "sha256-" + hashlib.sha256(data).hexdigest()
        held = ev.snapshot.chunk_index()
        cut = chunks.split(data)
        assert cut is not None
        pieces = chunks.Pieces(cut.head, tuple(held.get(hashlib.sha256(c).digest(), c) for c in cut.chunks),
                               cut.tail)
        fetched = sum(len(c) for c in cut.chunks if hashlib.sha256(c).digest() not in held)
        del held, cut
        time.sleep(0.3)  # the request thread settles
        reset_hwm()
        rss0 = rss_mb()
        requests.window()
        t0 = time.thread_time()
        if old:
            snapshot = Snapshot.from_bytes(data, digest=digest)
        else:
            snapshot = Snapshot.from_pieces(pieces, digest=digest, previous=ev.snapshot)
        snapshot.warm()
        ev.swap(snapshot)
        cpu = time.thread_time() - t0
        del snapshot
        time.sleep(WINDOW_TAIL_S)
        figures = requests.figures()
        peak = hwm_mb()
        out.append({"cpu_ms": cpu * 1e3, **figures, "transient_rss_mb": peak - rss0,
                    "steady_rss_mb": rss_mb() - rss0, "chunk_bytes_not_held": fetched})
    requests.stop = True
    requests.thread.join()
    return {"runs": out, "median": {k: statistics.median(r[k] for r in out) for k in out[0]},
            "idle_median": {k: statistics.median(r[k] for r in idle) for k in idle[0]}, "changed_flag": changed}


def worker_footprint(path: Path) -> dict[str, Any]:
    import ctypes
    import dataclasses

    from safeflags.sdk.evaluator import Evaluator
    from safeflags.sdk.snapshot import Snapshot

    libc = ctypes.CDLL("libc.so.6")
    data = path.read_bytes()
    gc.collect()
    libc.malloc_trim(0)
    rss0 = rss_mb()
    snapshot = Snapshot.from_bytes(data)
    snapshot.warm()
    ev = Evaluator(snapshot)
    del snapshot
    gc.collect()
    libc.malloc_trim(0)
    res: dict[str, Any] = {"steady_rss_mb": rss_mb() - rss0, "tracked_objects": len(gc.get_objects())}
    res["full_gc_ms"] = _gc_ms()
    ev.freeze_on_swap = True
    ev.swap(ev.snapshot)
    res["full_gc_frozen_ms"] = _gc_ms()
    gc.unfreeze()
    # The option not taken: no protobuf message kept per prepared flag.
    snap = ev.snapshot
    lean = {k: dataclasses.replace(e, flag=None, spec=None) for k, e in snap._entries.items()}
    fast = [dict(d) for d in snap.fast.values()]
    del snap, ev
    gc.collect()
    libc.malloc_trim(0)
    res["no_protobuf_estimate"] = {"rss_mb": rss_mb() - rss0, "full_gc_ms": _gc_ms(),
                                   "tracked_objects": len(gc.get_objects()), "entries": len(lean), "types": len(fast)}
    return res


def _gc_ms(n: int = 3) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        gc.collect()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def spawn(mode: str, path: Path, runs: int) -> dict[str, Any]:
    proc = subprocess.run([PY, __file__, "--worker", mode, "--bundle", str(path), "--runs", str(runs)],
                          capture_output=True, text=True, cwd=HERE.parent,
                          env={**os.environ, "PYTHONPATH": str(HERE.parent)})
    if proc.returncode:
        raise RuntimeError(f"worker {mode} failed:\n{proc.stderr}")
    return dict(json.loads(proc.stdout))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--flags", type=int, action="append", help="flags per bundle (default: 25000 and 250000)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--old-runs", type=int, default=None,
                    help="runs of the old path (default: --runs up to 25,000 flags, 1 above: it takes minutes)")
    ap.add_argument("--worker", choices=["new", "old", "footprint"], help=argparse.SUPPRESS)
    ap.add_argument("--bundle", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        if args.worker == "footprint":
            result = worker_footprint(args.bundle)
        else:
            result = worker_intake(args.bundle, args.runs, old=args.worker == "old")
        print(json.dumps(result))
        return 0
    OUT.mkdir(exist_ok=True)
    report: dict[str, Any] = {"loadavg_before": Path("/proc/loadavg").read_text().split()[:3],
                              "python": sys.version.split()[0], "cpus": os.cpu_count(),
                              "rss_method": "VmHWM after `echo 5 > /proc/self/clear_refs`, minus VmRSS before"}
    for n in args.flags or [25_000, 250_000]:
        path, how = bundle_of(n)
        old_runs = args.old_runs if args.old_runs is not None else (args.runs if n <= 25_000 else 1)
        print(f"{n:,} flags: intake ...", file=sys.stderr)
        figures: dict[str, Any] = {"bundle": how, "bundle_bytes": path.stat().st_size}
        figures["new"] = spawn("new", path, args.runs)
        print(f"{n:,} flags: footprint ...", file=sys.stderr)
        figures["footprint"] = spawn("footprint", path, 1)
        if old_runs:
            print(f"{n:,} flags: the old path ...", file=sys.stderr)
            figures["old"] = spawn("old", path, old_runs)
        report[str(n)] = figures
    report["loadavg_after"] = Path("/proc/loadavg").read_text().split()[:3]
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
