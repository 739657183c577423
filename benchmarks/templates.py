"""What the template library costs the Jsonnet engine, per construct and per VM.

    python benchmarks/templates.py                          # the library the package ships
    python benchmarks/templates.py --templates OLD_DIR      # another version, e.g. from `git show`
    python benchmarks/templates.py --repo /tmp/sf25k        # also: a generated repository, as the pool runs it

Three figures, all through go-jsonnet (`_gojsonnet.evaluate_snippet`) with the
catalog of this repository's safeflags.yaml as the `safeflags_catalog` ext code:

- per construct: `--uses` copies of one DSL expression in one VM, minus the same
  number of copies of the JSON it evaluates to (so parsing the library, starting
  the VM and writing the output are not counted): the microseconds the
  library's code adds to each use. Best of `--rounds`.
- per VM: what importing the library (and first touching `sf.dim`, `sf.ramps`)
  adds to one evaluation; the pool pays it once per batch of 64 files.
- with `--repo`: every flag file of the repository, 64 per VM in directory-
  interleaved groups as `safeflags/compile/load.py` batches them, in this one
  process: engine milliseconds per flag (wall and CPU; CPU includes the Go
  garbage collector's threads).

Wall times move with the load of a shared machine; compare runs made minutes
apart, and prefer the best of several.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

CONSTRUCTS = {
    "empty sf.bool": "sf.bool { owner: 'team-a', description: 'd', default: false }",
    "sf.dim.region.in_": "sf.dim.region.in_(['us-east-1', 'eu-west-1'])",
    "sf.dim.seats.gt": "sf.dim.seats.gt(500)",
    "sf.dim.email.suffix": "sf.dim.email.suffix('@example.com', ignoreCase=true)",
    "sf.any of 3": "sf.any([sf.dim.environment.notIn(['prod']), sf.dim.service.regex('^api-'), sf.dim.seats.gt(5)])",
    "sf.not": "sf.not(sf.dim.user_id.present())",
    "when.serve": "sf.when(sf.dim.region.eq('us-gov-west-1')).serve(false)",
    "when.serve.describe": "sf.when(sf.always).serveVariant('a').describe('why')",
    "sf.variant": "sf.variant('fast', 'fast-1')",
    "sf.bounds": "sf.bounds(min=0, max=100)",
    "ramps.standard": "sf.ramps.standard(unit='workspace_id', stage=3)",
    "ramps.cautious": "sf.ramps.cautious(unit='workspace_id', stage=1, serveVariant='on')",
    "ramps.custom": "sf.ramps.custom(stages=[sf.ramps.stage(5, name='pilot', scope=sf.dim.region.eq('us-west-2')), "
                    "10, 50, 100], unit='user_id', stage=1)",
    "ramps.regionWaves": "sf.ramps.regionWaves(canary='us-east-1', waves=[['us-east-2', 'us-west-2', 'ca-central-1'], "
                         "['eu-west-1', 'eu-central-1', 'ap-northeast-1']], unit='workspace_id', stage=2, "
                         "schedule=['2026-11-02T16:00:00Z', '2026-11-09T16:00:00Z'])",
    "sf.experiment": "sf.experiment(variants=[sf.variant('control', 'a'), sf.variant('treatment', 'b')], "
                     "arms={ control: 50, treatment: 50 }) { owner: 'team-a', description: 'd', default: 'a' }",
    "sf.migration": "sf.migration(state='AB') { owner: 'team-a', description: 'd' }",
}

PER_VM = {
    "import, sf.bool": "sf.bool",
    "+ sf.dim (catalog)": "[sf.bool, sf.dim.region]",
    "+ sf.ramps": "[sf.bool, sf.dim.region, sf.ramps.standard('u', 1)]",
}


class Engine:
    def __init__(self, templates: Path, catalog_repo: Path):
        import _gojsonnet

        from safeflags.compile.config import load_config
        from safeflags.source.jsonnet import ext_codes_for

        self._eval = _gojsonnet.evaluate_snippet
        self.ext = ext_codes_for(load_config(catalog_repo).catalog_json())
        self.templates = templates
        self._files: dict[str, tuple[str, bytes]] = {}

    def _import(self, base: str, rel: str) -> tuple[str, bytes]:
        hit = self._files.get(rel)
        if hit is None:
            path = self.templates / rel
            hit = self._files[rel] = (str(path), path.read_bytes())
        return hit

    def evaluate(self, snippet: str) -> str:
        return self._eval("bench.jsonnet", snippet, ext_codes=self.ext, import_callback=self._import, max_stack=500)

    def best(self, snippet: str, rounds: int) -> float:
        """Best wall seconds of `rounds` evaluations."""
        times = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            self.evaluate(snippet)
            times.append(time.perf_counter() - t0)
        return min(times)


def per_construct(engine: Engine, uses: int, rounds: int) -> None:
    head = "local sf = import 'safeflags.libsonnet';\n"

    def copies(expr: str) -> str:
        return head + f"[({expr}) for i in std.range(1, {uses})]"

    print("| construct | µs per use (library code) | µs per use (its JSON as a literal) |\n|---|---|---|")
    for name, expr in CONSTRUCTS.items():
        literal = json.dumps(json.loads(engine.evaluate(head + expr)))
        t_lib = engine.best(copies(expr), rounds)
        t_lit = engine.best(copies(literal), rounds)
        print(f"| {name} | {(t_lib - t_lit) / uses * 1e6:.1f} | {t_lit / uses * 1e6:.1f} |")


def per_vm(engine: Engine, rounds: int) -> None:
    base = engine.best("local sf = import 'safeflags.libsonnet'; 1", rounds * 20)
    print("\n| per VM | µs |\n|---|---|")
    print(f"| empty VM (start, std, the catalog not read) | {base * 1e6:.0f} |")
    for name, expr in PER_VM.items():
        t = engine.best(f"local sf = import 'safeflags.libsonnet'; {expr}", rounds * 20)
        print(f"| {name} | {(t - base) * 1e6:.0f} |")


def whole_repo(repo: Path, limit: int) -> None:
    from safeflags.compile.config import load_config
    from safeflags.compile.driver import discover
    from safeflags.compile.load import BATCH, _groups, _interleave
    from safeflags.source.jsonnet import evaluate, ext_codes_for
    from safeflags.source.sandbox import RecordingImporter

    config = load_config(repo)
    paths = discover(config)[:limit or None]
    ext = ext_codes_for(config.catalog_json())
    importer = RecordingImporter(repo, [config.flags_dir, config.templates_dir], [config.templates_dir])
    order = _interleave(paths)
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(order), BATCH):
        for group in _groups(order[i:i + BATCH]):
            importer.reset()
            snippet = "[" + ",".join("import " + json.dumps(p) for p in group) + "]"
            evaluate("", snippet, importer, ext, config.model.limits.max_stack)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"\n{repo}: {len(paths):,} flags, {wall * 1e3 / len(paths):.3f} ms/flag wall, "
          f"{cpu * 1e3 / len(paths):.3f} ms/flag CPU (Jsonnet only, {BATCH} files per VM)")


def main(argv: list[str] | None = None) -> int:
    from safeflags.source.sandbox import PACKAGED_TEMPLATES

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--templates", type=Path, default=PACKAGED_TEMPLATES, help="the library to measure")
    ap.add_argument("--uses", type=int, default=1000, help="copies of a construct per VM")
    ap.add_argument("--rounds", type=int, default=5, help="best of this many")
    ap.add_argument("--repo", type=Path, help="also evaluate every flag of this repository (its own templates)")
    ap.add_argument("--limit", type=int, default=0, help="with --repo: the first N flags only")
    args = ap.parse_args(argv)
    engine = Engine(args.templates.resolve(), ROOT)
    print(f"templates: {args.templates}\n")
    per_construct(engine, args.uses, args.rounds)
    per_vm(engine, args.rounds)
    if args.repo:
        whole_repo(args.repo.resolve(), args.limit)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
