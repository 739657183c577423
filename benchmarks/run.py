"""Run every benchmark and print the table of figures.

    benchmarks/run.sh                      # full: 25,000 flags, 200,000 calls per flag
    benchmarks/run.sh --flags 2000 --calls 50000    # quick

Steps, each in a fresh process: generate the repository (benchmarks/out/),
compile it cold without cache, cold with an empty cache, warm, warm after
one flag and after one team template changed, `validate --base` for a
20-flag change, load the bundle, then evaluate the three flags in safeflags
and in each peer SDK. Results also go to benchmarks/out/results.json and a
Markdown table to benchmarks/out/results.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
PY = sys.executable
GIT = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", "-c", "commit.gpgsign=false"]
SDKS = ["safeflags", "safeflags:details", "safeflags:openfeature", "growthbook", "launchdarkly",
        "flagd (provider)", "flagd (OpenFeature client)", "unleash"]
PEER_SDKS = SDKS[3:]
TARGETS = {"a": 150, "b": 300, "c": 400}


def sh(args: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t0
    if proc.returncode not in (0, 1):  # validate exits 1 on error findings
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return dt, proc.stdout + proc.stderr


def safeflags_cli(*args: str) -> list[str]:
    return [PY, "-m", "safeflags.cli.main", *args]


def machine() -> dict[str, str]:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    return {"nproc": str(os.cpu_count()), "cpu": cpu, "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d")}


def compile_figures(repo: Path, bundle: Path) -> dict[str, Any]:
    sys.path.insert(0, str(HERE))
    from generate_repo import generate

    t0 = time.perf_counter()
    n = len(generate(repo, ARGS.flags))
    res: dict[str, Any] = {"flags": n, "generate_s": time.perf_counter() - t0}
    out = ["-o", str(bundle), "--repo", str(repo)]
    res["cold_nocache_s"], _ = sh(safeflags_cli("compile", *out, "--no-cache"))
    res["cold_cache_s"], _ = sh(safeflags_cli("compile", *out))
    res["warm_s"], _ = sh(safeflags_cli("compile", *out))
    flag = sorted((repo / "flags" / "billing").glob("*.jsonnet"))[0]
    flag.write_text(flag.read_text().replace("description: '", "description: 'Edited. ", 1))
    res["warm_one_flag_s"], text = sh(safeflags_cli("compile", *out))
    res["warm_one_flag_cached"] = int(re.search(r"\((\d+) from cache\)", text).group(1))  # type: ignore[union-attr]
    lib = repo / "templates" / "teams" / "billing.libsonnet"
    importers = sum(1 for p in (repo / "flags").rglob("*.jsonnet") if "teams/billing.libsonnet" in p.read_text())
    lib.write_text(lib.read_text() + "// edited\n")
    res["warm_template_s"], text = sh(safeflags_cli("compile", *out))
    res["warm_template_reevaluated"] = n - int(re.search(r"\((\d+) from cache\)", text).group(1))  # type: ignore[union-attr]
    res["template_importers"] = importers
    subprocess.run([*GIT, "-C", str(repo), "commit", "-qam", "edits"], check=True)
    res["bundle_bytes"] = bundle.stat().st_size
    res.update(validate_figures(repo))
    return res


def validate_figures(repo: Path) -> dict[str, Any]:
    """`validate --base main` on a branch changing 20 flags (10 rollout stages raised by one, 10
    overrides edited): warm (the head's cache from the compiles above) several times, then cold
    (no cache at all)."""
    if not (Path(__file__).resolve().parents[1] / "safeflags" / "cli" / "validate_cmd.py").exists():
        return {}
    subprocess.run([*GIT, "-C", str(repo), "checkout", "-qb", "change"], check=True)
    raised = edited = 0
    for p in sorted((repo / "flags").glob("*/*.jsonnet")):
        text = p.read_text()
        if raised < 10 and "sf.ramps.standard(unit='workspace_id', stage=1)" in text:
            p.write_text(text.replace("stage=1)", "stage=2)", 1))
            raised += 1
        elif edited < 10 and ".serve(true)," in text:
            p.write_text(text.replace(".serve(true),", ".serve(true).describe('Edited in review.'),", 1))
            edited += 1
        if raised + edited == 20:
            break
    subprocess.run([*GIT, "-C", str(repo), "commit", "-qam", "20 flags"], check=True)
    args = safeflags_cli("validate", "--repo", str(repo), "--base", "main")
    try:
        runs = [sh(args) for _ in range(5)]
        (OUT / "validate.txt").write_text(runs[-1][1])
        shutil.rmtree(repo / ".safeflags-cache", ignore_errors=True)
        cold, _ = sh(args)
        warm = sorted(dt for dt, _ in runs)
        return {"validate_base_s": warm[len(warm) // 2], "validate_base_runs_s": warm, "validate_base_cold_s": cold,
                "validate_base_summary": runs[-1][1].strip().splitlines()[-1]}
    except RuntimeError as exc:
        return {"validate_error": str(exc).strip().splitlines()[-1]}
    finally:
        subprocess.run([*GIT, "-C", str(repo), "checkout", "-q", "main"], check=True)


def eval_figures(bundle: Path) -> dict[str, Any]:
    res: dict[str, Any] = {}
    for sdk in SDKS:
        args = [PY, str(HERE / "evaluation.py"), "--sdk", sdk, "--bundle", str(bundle), "--flags", str(ARGS.flags),
                "--calls", str(ARGS.calls)]
        proc = subprocess.run(args, capture_output=True, text=True)
        line = proc.stdout.strip().splitlines()[-1:] if proc.returncode == 0 else []
        res[sdk] = json.loads(line[0]) if line else {"error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    return res


def us(ns: float) -> str:
    return f"{ns:,.0f} ns" if ns < 10_000 else f"{ns / 1000:,.1f} µs"


def table(fig: dict[str, Any]) -> str:
    c, ld, ev = fig["compile"], fig["load"], fig["eval"]
    rows = [("figure", "measured", "target", "")]

    def ok(good: bool) -> str:
        return "met" if good else "MISSED"

    sf = ev["safeflags"]
    for f in "abc":
        if "error" in sf:
            break
        fastest = min((ev[p][f]["mean_ns"], p) for p in PEER_SDKS if "error" not in ev[p])
        rows.append((f"eval ({f}) safeflags mean / p95", f"{us(sf[f]['mean_ns'])} / {us(sf[f]['p95_ns'])}",
                     f"≤ {TARGETS[f]} ns / ≤ 1 µs", ok(sf[f]["mean_ns"] <= TARGETS[f] and sf[f]["p95_ns"] <= 1000)))
        ratio = fastest[0] / sf[f]["mean_ns"]
        rows.append((f"eval ({f}) fastest peer: {fastest[1]}", f"{us(fastest[0])} ({ratio:.0f}×)",
                     "≥ 10×", ok(ratio >= 10)))
    rows += [
        (f"load {c['flags']:,} flags: decode+verify+pre-evaluate+ready", f"{ld['ready_s']:.3f} s", "≤ 0.3 s",
         ok(ld["ready_s"] <= 0.3)),
        ("load: RSS growth", f"{ld['rss_growth_bytes'] / 2**20:.1f} MB", "≤ 60 MB",
         ok(ld["rss_growth_bytes"] <= 60 * 2**20)),
        ("bundle size", f"{c['bundle_bytes']:,} B ({c['bundle_bytes'] / c['flags']:.0f} B/flag)", "small", ""),
        ("compile cold, no cache (CLI wall)", f"{c['cold_nocache_s']:.1f} s", "≤ 15 s", ok(c["cold_nocache_s"] <= 15)),
        ("compile cold, filling the cache", f"{c['cold_cache_s']:.1f} s", "", ""),
        ("compile warm, nothing changed", f"{c['warm_s']:.2f} s", "", ""),
        ("compile warm, one flag changed", f"{c['warm_one_flag_s']:.2f} s", "≤ 2 s", ok(c["warm_one_flag_s"] <= 2)),
        ("compile warm, one team template changed",
         f"{c['warm_template_s']:.2f} s ({c['warm_template_reevaluated']} re-evaluated"
         f" = {c['template_importers']} importers)",
         "exactly its importers", ok(c["warm_template_reevaluated"] == c["template_importers"])),
    ]
    if "validate_error" in c:
        rows.append(("validate --base, 20 flags changed", "n/a: " + c["validate_error"][:80], "≤ 3 s", ""))
    if "validate_base_s" in c:
        rows.append(("validate --base, 20 flags changed, warm (median of 5)", f"{c['validate_base_s']:.2f} s", "≤ 3 s",
                     ok(c["validate_base_s"] <= 3)))
        rows.append(("validate --base, 20 flags changed, cold (no cache)", f"{c['validate_base_cold_s']:.1f} s",
                     "", ""))
    machine = ", ".join(f"{k}: {v}" for k, v in fig["machine"].items())
    head = f"{c['flags']:,} flags, {ARGS.calls:,} timed calls per flag; {machine}"
    lines = [head, "", "| " + " | ".join(rows[0]) + " |", "|---|---|---|---|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    lines += ["", "| SDK | (a) mean / p95 | (b) mean / p95 | (c) mean / p95 | share on a/b/c |",
              "|---|---|---|---|---|"]
    for sdk, r in ev.items():
        if "error" in r:
            lines.append(f"| {sdk} | n/a: {r['error'][:80]} | | | |")
            continue
        cells = [f"{us(r[f]['mean_ns'])} / {us(r[f]['p95_ns'])}" for f in "abc"]
        shares = "/".join(f"{r[f]['share_on']:.3f}" for f in "abc")
        lines.append(f"| {sdk} | " + " | ".join(cells) + f" | {shares} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    global ARGS
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--flags", type=int, default=25_000)
    ap.add_argument("--calls", type=int, default=200_000)
    ARGS = ap.parse_args(argv)
    OUT.mkdir(exist_ok=True)
    repo, bundle = OUT / f"repo-{ARGS.flags}", OUT / f"bundle-{ARGS.flags}.pb"
    shutil.rmtree(repo, ignore_errors=True)
    fig: dict[str, Any] = {"machine": machine(), "args": vars(ARGS)}
    print("compiling ...", file=sys.stderr)
    fig["compile"] = compile_figures(repo, bundle)
    print("loading ...", file=sys.stderr)
    fig["load"] = json.loads(subprocess.run([PY, str(HERE / "load.py"), str(bundle)], capture_output=True, text=True,
                                            check=True).stdout)
    print("evaluating ...", file=sys.stderr)
    fig["eval"] = eval_figures(bundle)
    (OUT / "results.json").write_text(json.dumps(fig, indent=2))
    text = table(fig)
    (OUT / "results.md").write_text(text + "\n")
    print(text)
    return 0


ARGS: argparse.Namespace

if __name__ == "__main__":
    raise SystemExit(main())
