"""Peak memory of a compile under each flag bomb, with the limits in force.

    python benchmarks/bombs.py                 # the default limits (2 GiB per evaluator, 1 MiB of JSON)
    python benchmarks/bombs.py --memory 256 --output 64 --only array,tags

Each bomb sits in a repository of nine ordinary flags and is compiled in a
fresh process, so the figures are that compile's alone: the peak resident
memory of its largest evaluator process (ru_maxrss of the reaped children,
which the watchdog in safeflags/compile/process.py bounds) and of the
compiling process itself, the outcome the bomb got, and the wall time.
Prints one line per bomb and a JSON line with every figure.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from safeflags.source.sandbox import PACKAGED_TEMPLATES

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
FLAG = """local sf = import 'safeflags.libsonnet';
sf.bool { owner: 'team-billing', description: 'An ordinary flag.', default: false%s }
"""
BOMBS = {
    "none": None,
    "array": "std.makeArray(1e8, function(i) i)\n",
    "doubling": "local d(s, n) = if n == 0 then s else d(s + s, n - 1);\nd('x', 40)\n",
    "tags": FLAG % ", tags: std.makeArray(3000000, function(i) 'tag' + i)",  # ~60 MB of JSON, if it got there
    "output": FLAG % ", tags: std.makeArray(300000, function(i) 'tag' + i)",  # ~6 MB of JSON: fits in memory
    "tailstrict": "local f(x) = f(x + 1) tailstrict;\nf(0)\n",
}
# Run in the fresh process: compile, then report what it and its evaluators peaked at.
PROBE = textwrap.dedent("""
    import json, resource, sys, time
    from pathlib import Path
    from safeflags.compile.driver import compile_repo
    t = time.perf_counter()
    result = compile_repo(Path(sys.argv[1]), revision="bench", cache=False)
    print(json.dumps({
        "seconds": round(time.perf_counter() - t, 2),
        "errors": [e.message for e in result.errors],
        "compiled": len(result.specs),
        "evaluator_peak_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024,
        "compile_peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }))
""")


def make_repo(path: Path, bomb: str | None, limits: str) -> None:
    shutil.copytree(PACKAGED_TEMPLATES, path / "templates")
    text = (ROOT / "safeflags.yaml").read_text(encoding="utf-8")
    (path / "safeflags.yaml").write_text(text + limits, encoding="utf-8")
    for ns in ("alpha", "beta", "gamma"):
        (path / "flags" / ns).mkdir(parents=True)
        for i in range(3):
            (path / "flags" / ns / f"flag_{i}.jsonnet").write_text(FLAG % "", encoding="utf-8")
    if bomb is not None:
        (path / "flags" / "beta" / "bomb.jsonnet").write_text(bomb, encoding="utf-8")


def measure(name: str, limits: str) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="safeflags-bomb-") as tmp:
        make_repo(Path(tmp), BOMBS[name], limits)
        proc = subprocess.run([sys.executable, "-c", PROBE, tmp], capture_output=True, text=True, timeout=600,
                              check=True)
    return {"bomb": name, **json.loads(proc.stdout)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--memory", type=int, help="limits.eval_memory_mib (default: the compiler's)")
    parser.add_argument("--output", type=int, help="limits.max_output_kib (default: the compiler's)")
    parser.add_argument("--only", default=",".join(BOMBS), help="comma-separated bombs: " + ", ".join(BOMBS))
    args = parser.parse_args(argv)
    limits = "".join(f"  {key}: {value}\n" for key, value in
                     (("eval_memory_mib", args.memory), ("max_output_kib", args.output)) if value is not None)
    limits = "limits:\n" + limits if limits else ""
    rows = []
    for name in args.only.split(","):
        row = measure(name, limits)
        rows.append(row)
        errors = row["errors"]
        assert isinstance(errors, list)
        outcome = errors[0][:70] if errors else "compiled"
        print(f"{name:<11} evaluator peak {row['evaluator_peak_mib']:>6} MiB   compile peak "
              f"{row['compile_peak_mib']:>5} MiB   {row['seconds']:>6} s   {row['compiled']} flags   {outcome}")
    print(json.dumps({"limits": limits.strip() or "defaults", "bombs": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
