"""Compile figures only: the `safeflags compile` CLI on a generated repository.

    python benchmarks/compile.py                      # 25,000 flags, 3 runs of each step
    python benchmarks/compile.py --flags 5000 --runs 1 --repo /tmp/sf5k

Steps, as in run.py: cold without the cache, cold filling an empty cache,
warm, warm after one flag edit, warm after one team template edit (its
importers re-evaluated). Each figure is the median of `--runs` (the edits
are undone between runs); CPU seconds (user+sys of the CLI and its
evaluator processes) are shown too, as wall time on a shared machine
varies. Every bundle is checked byte-identical to the one compiled without
the cache from the same sources.
"""
from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def compile_once(repo: Path, out: Path, *extra: str) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds and the printed digest (the revision is
    read from git, as a release job would)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "safeflags.cli.main", "compile", "--repo", str(repo), "-o", str(out),
                           *extra], capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.stdout.split("sha256-")[1].split(")")[0]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--flags", type=int, default=25_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--repo", type=Path, help="reuse (or generate into) this directory")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(HERE))
    from generate_repo import generate

    repo = args.repo or HERE / "out" / f"repo-{args.flags}"
    if not (repo / "safeflags.yaml").exists():
        generate(repo, args.flags)
    out = repo / "build" / "bundle.pb"
    cache = repo / ".safeflags-cache"
    flag = sorted((repo / "flags" / "billing").glob("*.jsonnet"))[0]
    lib = repo / "templates" / "teams" / "billing.libsonnet"
    flag_text, lib_text = flag.read_text(), lib.read_text()
    figures: dict[str, list[tuple[float, float]]] = {}
    digests: dict[str, str] = {}

    def step(name: str, *extra: str) -> None:
        wall, cpu, digest = compile_once(repo, out, *extra)
        figures.setdefault(name, []).append((wall, cpu))
        digests[name] = digest

    for _ in range(args.runs):
        step("cold, no cache", "--no-cache")
        shutil.rmtree(cache, ignore_errors=True)
        step("cold, filling the cache")
        step("warm, nothing changed")
        flag.write_text(flag_text.replace("description: '", "description: 'Edited. ", 1))
        step("warm, one flag changed")
        edited = digests.pop("warm, one flag changed")
        step("check: edited flag, no cache", "--no-cache")
        assert digests.pop("check: edited flag, no cache") == edited, "cache changed the bundle"
        figures.pop("check: edited flag, no cache")
        flag.write_text(flag_text)
        lib.write_text(lib_text + "// edited\n")  # a comment: same bundle, but its importers are evaluated again
        step("warm, one team template changed")
        digests.pop("warm, one team template changed")  # a dirty work tree: another source revision
        lib.write_text(lib_text)
    assert len(set(digests.values())) == 1, digests  # with and without cache
    print(f"{args.flags:,} flags, median of {args.runs} run(s)\n")
    print("| compile | wall | CPU (all processes) |\n|---|---|---|")
    for name, runs in figures.items():
        wall, cpu = statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)
        print(f"| {name} | {wall:.2f} s | {cpu:.1f} s |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
