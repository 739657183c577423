"""Pull-request figures: `safeflags validate --base main` on a generated repository.

    python benchmarks/validate.py                     # 25,000 flags, median of 3 warm runs
    python benchmarks/validate.py --quick             # 2,000 flags: a smoke run
    python benchmarks/validate.py --profile out/prof  # then one in-process cProfile run of each
    python benchmarks/validate.py --snapshot          # run a copy of the package taken at the start

The repository is benchmarks/generate_repo.py's (a git repository, committed
on `main`), written to a temporary directory unless `--repo` names one; its
compile cache is filled by one `safeflags compile` on main. Two branches are
cut from main and committed, as a pull request's head is checked out in CI:

(a) 20 flags changed: ramp steps (one stage forward), config numbers tuned
    (×1.5), two new release flags, one removed flag;
(b) the template library edited: the 5 % stage of `sf.ramps.standard`
    becomes 10 %, which moves every flag at that stage (and renames the stage
    of every flag using the template, so thousands of flags change).

For each, one validate fills the head's cache ("first run": what a CI job
pays when its restored cache is main's), then `--runs` runs of the CLI in a
subprocess with `--format json` are timed (wall, interpreter start
included); the figure is their median, printed with `os.getloadavg()` taken
before each run. For (b) the flags whose exposure moved are counted from the
JSON report's `changes`, and one `--format github` run writes the job
summary to a file ($GITHUB_STEP_SUMMARY) whose size is reported. The exit
status is non-zero only when something fails to run (validate exiting 2 or
crashing, a setup that did not produce the intended change); a missed
target is printed as MISSED. The findings of each report are shown for
information only: this measures speed, not judgement.

`--snapshot` runs a copy of the package taken at the start: in a working
tree that others edit while it runs, an edit to the compiler's own source
is a new compiler fingerprint, so every flag's cache entry misses and a
"warm" run silently becomes a cold one.
"""
from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
GIT = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", "-c", "commit.gpgsign=false"]
FULL_FLAGS = 25_000
TARGET_A_S, TARGET_B_S, TARGET_SUMMARY_B, TARGET_MOVED = 3.0, 10.0, 65_536, 500
RAMP = re.compile(r"sf\.ramps\.(standard|cautious)\(unit='(\w+)', stage=(\d)\)")
LAST_STAGE = {"standard": 5, "cautious": 7}
INT_DEFAULT = re.compile(r"^  default: (\d+),$", re.M)
KEY_REF = re.compile(r"'([a-z0-9_]+\.[a-z0-9_]+)'")
PYTHONPATH: list[str] = []  # --snapshot: the copy of the package the CLI runs
STANDARD_STAGES = "local standardStages = [mkStage(p) for p in [1, 5, 25, 50, 100]];"
RAISED_STAGES = "local standardStages = [mkStage(p) for p in [1, 10, 25, 50, 100]];"
NEW_FLAG = """local sf = import 'safeflags.libsonnet';
local team = import 'teams/{team}.libsonnet';

team.release {{
  description: 'New {noun} path, added by the benchmark branch.',
  expires: '2027-06-30',
  default: false,
  rollout: sf.ramps.standard(unit='workspace_id', stage=1),
  overrides: [],
}}
"""


class SetupError(Exception):
    """The benchmark could not build or run what it measures."""


@dataclass
class Run:
    seconds: float
    load: tuple[float, float, float]
    report: str


@dataclass
class Scenario:
    name: str
    what: str
    first: Run | None = None
    runs: list[Run] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(r.seconds for r in self.runs)

    def doc(self, run: Run | None = None) -> dict[str, Any]:
        report = (run or self.runs[-1]).report
        try:
            doc: dict[str, Any] = json.loads(report)
        except ValueError as exc:
            raise SetupError(f"({self.name}) the report is not JSON: {report[:300]!r}") from exc
        return doc

    @property
    def command_median(self) -> float:
        """The command's own figure (`summary.seconds`: no interpreter start or imports)."""
        return statistics.median(float(self.doc(r)["summary"]["seconds"]) for r in self.runs)


def git(repo: Path, *args: str) -> str:
    proc = subprocess.run([*GIT, "-C", str(repo), *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SetupError(f"git {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


def cli_env(summary: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SAFEFLAGS_CACHE_DIR", "GITHUB_STEP_SUMMARY")}
    if summary is not None:
        env["GITHUB_STEP_SUMMARY"] = str(summary)
    if PYTHONPATH:
        env["PYTHONPATH"] = os.pathsep.join([*PYTHONPATH, *filter(None, [env.get("PYTHONPATH")])])
    return env


def snapshot(tmp: Path) -> str:
    """A copy of the package being measured; returns the directory to import it from."""
    import importlib.util

    spec = importlib.util.find_spec("safeflags")
    if spec is None or spec.origin is None:
        raise SetupError("safeflags is not importable")
    shutil.copytree(Path(spec.origin).parent, tmp / "snapshot" / "safeflags",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return str(tmp / "snapshot")


def safeflags(repo: Path, *args: str, env: dict[str, str] | None = None) -> Run:
    """One CLI run, timed; validate's exit 1 (error findings) is a result, anything else an error."""
    load = os.getloadavg()
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "safeflags.cli.main", *args], cwd=repo, capture_output=True,
                          text=True, env=env or cli_env())
    seconds = time.perf_counter() - t0
    if proc.returncode not in (0, 1) or "Traceback (most recent call last)" in proc.stderr:
        raise SetupError(f"safeflags {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return Run(seconds, load, proc.stdout)


def validate_args(repo: Path, fmt: str = "json") -> list[str]:
    return ["validate", "--repo", str(repo), "--base", "main", "--format", fmt]


def show(label: str, run: Run) -> None:
    load = " ".join(f"{x:.2f}" for x in run.load)
    print(f"  {label}: {run.seconds:6.2f} s   load average {load}", file=sys.stderr, flush=True)


def cut_branch(repo: Path, name: str, edit: Callable[[Path], str]) -> str:
    git(repo, "checkout", "-q", "main")
    git(repo, "checkout", "-q", "-b", name)
    what = edit(repo)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", what)
    return what


def twenty_flags(repo: Path) -> str:
    """14 ramp steps, 3 config numbers, 2 new flags, 1 removed flag, spread over namespaces."""
    files = sorted((repo / "flags").glob("*/*.jsonnet"))
    texts = {p: p.read_text(encoding="utf-8") for p in files}
    referenced = {k for t in texts.values() for k in KEY_REF.findall(t)}
    random.Random(20).shuffle(files)
    ramps, configs, removed = 0, 0, 0
    for p in files:
        text, key = texts[p], f"{p.parent.name}.{p.stem}"
        if "bench" in p.parts:
            continue
        m = RAMP.search(text)
        if m and removed < 1 and int(m[3]) == LAST_STAGE[m[1]] and key not in referenced:
            p.unlink()  # done ramping and read by no other flag: the routine clean-up
            removed += 1
        elif m and ramps < 14 and 0 < int(m[3]) < LAST_STAGE[m[1]]:
            p.write_text(text[:m.start(3)] + str(int(m[3]) + 1) + text[m.end(3):], encoding="utf-8")
            ramps += 1
        elif configs < 3 and ("config('int')" in text or "sf.int {" in text):
            d = INT_DEFAULT.search(text)
            if d and int(d[1]) >= 10:
                p.write_text(text[:d.start(1)] + str(int(d[1]) * 3 // 2) + text[d.end(1):], encoding="utf-8")
                configs += 1
        if (ramps, configs, removed) == (14, 3, 1):
            break
    else:
        raise SetupError(f"found only {ramps} ramps, {configs} configs, {removed} removable flags to change")
    namespaces = sorted(p.name for p in (repo / "flags").iterdir() if p.name != "bench")
    for i, (ns, noun) in enumerate([(namespaces[0], "invoice"), (namespaces[-1], "ranking")]):
        (repo / "flags" / ns / f"bench_new_{noun}_{i}.jsonnet").write_text(
            NEW_FLAG.format(team=ns.split("_")[0], noun=noun), encoding="utf-8")
    return "20 flags: 14 ramp steps, 3 config values, 2 new flags, 1 removed flag"


def template_stage(repo: Path) -> str:
    lib = repo / "templates" / "ramps.libsonnet"
    text = lib.read_text(encoding="utf-8")
    if STANDARD_STAGES not in text:
        raise SetupError(f"{lib.name} no longer holds the line this benchmark edits: {STANDARD_STAGES!r}")
    lib.write_text(text.replace(STANDARD_STAGES, RAISED_STAGES), encoding="utf-8")
    return "templates/ramps.libsonnet: the standard ramp's 5 % stage raised to 10 %"


def measure(repo: Path, sc: Scenario, runs: int) -> None:
    print(f"({sc.name}) {sc.what}", file=sys.stderr, flush=True)
    sc.first = safeflags(repo, *validate_args(repo))
    show("first run (cache from main)", sc.first)
    for i in range(runs):
        sc.runs.append(safeflags(repo, *validate_args(repo)))
        show(f"warm run {i + 1}", sc.runs[-1])


def moved(doc: dict[str, Any]) -> tuple[int, int]:
    """Flags whose exposure moved, and whose exposure rose, per the JSON report."""
    changes = [c["exposure"] for c in doc["changes"]]
    return sum(1 for e in changes if e["after"] != e["before"]), sum(1 for e in changes if e["after"] > e["before"])


def job_summary(repo: Path, tmp: Path) -> tuple[Run, int]:
    summary = tmp / "step-summary.md"
    summary.write_text("", encoding="utf-8")
    run = safeflags(repo, *validate_args(repo, "github"), env=cli_env(summary))
    show("--format github run", run)
    return run, summary.stat().st_size


def profile(repo: Path, out: Path, name: str, fmt: str) -> None:
    """One in-process run of the validate command under cProfile (the head's cache is warm, so no
    evaluator process does work the profile cannot see)."""
    from safeflags.cli import validate_cmd

    out.mkdir(parents=True, exist_ok=True)
    prof, report = out / f"validate-{name}.prof", out / f"validate-{name}.{fmt}"
    env = dict(os.environ)
    os.environ.pop("SAFEFLAGS_CACHE_DIR", None)
    os.environ["GITHUB_STEP_SUMMARY"] = str(out / f"validate-{name}-summary.md")
    Path(os.environ["GITHUB_STEP_SUMMARY"]).write_text("", encoding="utf-8")
    cwd = Path.cwd()
    profiler = cProfile.Profile()
    try:
        os.chdir(repo)
        profiler.runcall(validate_cmd.run, repo=repo, base="main", fmt=fmt, output=report, event=None,
                         code_root=None, sarif=None, jobs=None)
    finally:
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
    profiler.dump_stats(prof)
    print(f"\n## profile ({name}): {prof}\n")
    stats = pstats.Stats(str(prof), stream=sys.stdout)
    stats.sort_stats("cumulative").print_stats(35)
    stats.sort_stats("tottime").print_stats(15)


def plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def table(flags: int, a: Scenario, b: Scenario, summary_run: Run, summary_bytes: int) -> str:
    scale = flags / FULL_FLAGS
    min_moved = max(1, round(TARGET_MOVED * scale))

    def ok(good: bool) -> str:
        return "met" if good else "MISSED"

    def loads(sc: Scenario) -> str:
        lo, hi = min(r.load[0] for r in sc.runs), max(r.load[0] for r in sc.runs)
        return f"{lo:.2f}" if lo == hi else f"{lo:.2f} to {hi:.2f}"

    def findings(doc: dict[str, Any]) -> str:
        s = doc["summary"]
        return f"{plural(s['changes'], 'change')}; {plural(s['errors'], 'error')}, {plural(s['warnings'], 'warning')}"

    da, db = a.doc(), b.doc()
    n_moved, n_rose = moved(db)
    runs = len(a.runs)
    rows = [
        (f"(a) {a.what}, warm (median of {runs})", f"{a.median:.2f} s (command {a.command_median:.2f} s)",
         f"≤ {TARGET_A_S:g} s", ok(a.median <= TARGET_A_S), loads(a)),
        ("(a) first run, cache from main", f"{a.first.seconds:.2f} s" if a.first else "", "", "",
         f"{a.first.load[0]:.2f}" if a.first else ""),
        ("(a) report", findings(da), "", "", ""),
        (f"(b) {b.what}, warm (median of {runs})", f"{b.median:.2f} s (command {b.command_median:.2f} s)",
         f"≤ {TARGET_B_S:g} s", ok(b.median <= TARGET_B_S), loads(b)),
        ("(b) first run, cache from main", f"{b.first.seconds:.2f} s" if b.first else "", "", "",
         f"{b.first.load[0]:.2f}" if b.first else ""),
        ("(b) flags whose exposure moved (rose)", f"{n_moved:,} ({n_rose:,})", f"≥ {min_moved:,}",
         ok(n_moved >= min_moved), ""),
        ("(b) report", findings(db), "", "", ""),
        ("(b) job summary, `--format github`", f"{summary_bytes:,} B ({summary_run.seconds:.2f} s)",
         f"≤ {TARGET_SUMMARY_B:,} B", ok(summary_bytes <= TARGET_SUMMARY_B), f"{summary_run.load[0]:.2f}"),
    ]
    head = f"{flags:,} flags; validate --base main through the CLI (wall, interpreter start included)"
    if flags != FULL_FLAGS:
        head += f"; the targets are for {FULL_FLAGS:,} flags (the moved-flags one scaled)"
    lines = [head, "", "| figure | measured | target | | load (1 min) |", "|---|---|---|---|---|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--flags", type=int, default=FULL_FLAGS)
    ap.add_argument("--quick", action="store_true", help="2,000 flags (a smoke run)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--repo", type=Path, help="generate into this directory (replaced) and keep it")
    ap.add_argument("--profile", type=Path, metavar="DIR", help="also profile one in-process run of each into DIR")
    ap.add_argument("--snapshot", action="store_true", help="run a copy of the package taken at the start")
    args = ap.parse_args(argv)
    flags = 2_000 if args.quick else args.flags
    sys.path.insert(0, str(HERE))
    from generate_repo import generate

    tmp = Path(tempfile.mkdtemp(prefix="safeflags-validate-bench-"))
    repo = args.repo.resolve() if args.repo else tmp / "repo"
    try:
        if args.snapshot:
            PYTHONPATH.append(snapshot(tmp))
            sys.path.insert(0, PYTHONPATH[0])  # the in-process profile imports the same copy
        print(f"generating {flags:,} flags in {repo} ...", file=sys.stderr, flush=True)
        generate(repo, flags)
        show("compile on main (fills the cache)", safeflags(repo, "compile", "--repo", str(repo), "-o",
                                                            str(tmp / "bundle.pb")))
        a = Scenario("a", cut_branch(repo, "twenty-flags", twenty_flags))
        measure(repo, a, args.runs)
        if a.doc()["summary"]["changes"] != 20:
            raise SetupError(f"(a) expected 20 changed flags, the report has {a.doc()['summary']['changes']}")
        if args.profile:
            profile(repo, args.profile.resolve(), "a", "json")
        b = Scenario("b", cut_branch(repo, "template-stage", template_stage))
        measure(repo, b, args.runs)
        summary_run, summary_bytes = job_summary(repo, tmp)
        if args.profile:
            profile(repo, args.profile.resolve(), "b", "github")
        print(table(flags, a, b, summary_run, summary_bytes))
        return 0
    except SetupError as exc:
        print(f"validate benchmark: {exc}", file=sys.stderr)
        return 2
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
