"""Write a realistic flag repository of N flags, as a git repository.

    python benchmarks/generate_repo.py OUT [--flags 25000] [--seed 7] [--no-git]

The shape follows a large product organisation: ~40 teams, each owning a few
namespaces, each team with its own template library
(`templates/teams/<team>.libsonnet`, imported by that team's flags, so editing
it invalidates exactly its importers), and every construct of the DSL in
rough real-world proportions (mostly bool release ramps and config values, a
tail of experiments, migrations, region waves, kill switches, regexes,
prerequisites and version requirements). Three flags in `bench/` are the
evaluation benchmark's (a), (b), (c). Same seed, same bytes.
"""
from __future__ import annotations

import argparse
import random
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import yaml

from safeflags.source.sandbox import PACKAGED_TEMPLATES

HERE = Path(__file__).resolve().parent
SOURCE_REPO = HERE.parent  # the example repository: its catalog

TEAMS = [
    "accounts", "ads", "analytics", "api", "auth", "billing", "cdn", "checkout", "comms", "compliance",
    "data", "design", "devex", "docs", "edge", "email", "fraud", "growth", "identity", "infra",
    "insights", "integrations", "inventory", "ml", "mobile", "notifications", "onboarding", "payments",
    "platform", "pricing", "privacy", "search", "security", "sre", "storage", "support", "sync", "tax",
    "video", "web",
]
NOUNS = [
    "invoice", "cart", "session", "upload", "thumbnail", "digest", "ranking", "quota", "cache", "retry",
    "export", "import", "webhook", "report", "banner", "onboarding", "sidebar", "editor", "share", "comment",
    "search", "index", "token", "ledger", "refund", "coupon", "audit", "replica", "stream", "preview",
]
VERBS = ["new", "fast", "async", "batched", "smart", "lazy", "strict", "compact", "parallel", "unified"]
REGIONS = ["us-east-1", "us-east-2", "us-west-2", "ca-central-1", "eu-west-1", "eu-central-1",
           "ap-northeast-1", "ap-southeast-2", "us-central1", "us-east4", "europe-west1"]
COUNTRIES = ["US", "CA", "GB", "DE", "FR", "JP", "AU", "BR", "IN", "NL", "SE", "ES"]


def team_library(team: str, rng: random.Random) -> str:
    pilots = ", ".join(f"'ws-{rng.randrange(10**6):06d}'" for _ in range(rng.randint(2, 6)))
    return f"""// Team {team}: defaults and shared conditions for the team's flags.
local sf = import 'safeflags.libsonnet';

{{
  owner:: 'team-{team}',
  release:: sf.bool {{ owner: 'team-{team}', tags: ['{team}'] }},
  config(type):: sf[type] {{ owner: 'team-{team}', tags: ['{team}', 'config'] }},
  killSwitch:: sf.killSwitch {{ owner: 'team-{team}', tags: ['{team}', 'kill-switch'] }},
  pilots:: sf.dim.workspace_id.in_([{pilots}]),
  internal:: sf.dim.is_internal.eq(true),
  staff:: sf.dim.email.suffix('@{team}.example.com', ignoreCase=true),
  noGov:: sf.when(sf.dim.region.eq('us-gov-west-1')).serve(false).describe('Not authorised in GovCloud.'),
  dogfood:: sf.when(sf.any([self.internal, self.pilots])).serve(true).describe('Staff and design partners.'),
}}
"""


class Gen:
    def __init__(self, rng: random.Random):
        self.rng = rng
        self.keys: list[str] = []  # bool flags: what prerequisites and `flagIs` may name
        # Dimensions (or units) the current flag already uses: each condition of
        # a flag draws on a new one, so no rule is contradictory or shadowed by
        # an earlier rule or the rollout (SF201/SF202), as in a real repository.
        self.used: set[str] = set()
        self.is_bool = False  # the last flag written

    def date(self) -> str:
        return f"{self.rng.choice([2027, 2028])}-{self.rng.randint(1, 12):02d}-{self.rng.randint(1, 28):02d}"

    def cond(self, depth: int = 0) -> str:
        r, rng = self.rng.random(), self.rng
        if depth < 1 and r < 0.12:
            op = rng.choice(["all", "any"])
            return f"sf.{op}([{', '.join(self.cond(depth + 1) for _ in range(rng.randint(2, 3)))}])"
        if depth < 1 and r < 0.16:
            return f"sf.not({self.cond(depth + 1)})"
        picks: list[tuple[str, Callable[[], str]]] = [
            ("country", lambda: f"sf.dim.country.in_({rng.sample(COUNTRIES, rng.randint(1, 4))})"),
            ("org_tier", lambda: f"sf.dim.org_tier.eq('{rng.choice(['free', 'pro', 'enterprise'])}')"),
            ("region", lambda: f"sf.dim.region.in_({rng.sample(REGIONS, rng.randint(1, 3))})"),
            ("environment", lambda: "sf.dim.environment.notIn(['prod'])"),
            ("client", lambda: f"sf.dim.client.eq('{rng.choice(['web', 'ios', 'android'])}')"),
            ("app_version", lambda: f"sf.dim.app_version.lt('{rng.randint(3, 6)}.{rng.randint(0, 20)}.0')"),
            ("seats", lambda: f"sf.dim.seats.gt({rng.choice([10, 50, 100, 500, 1000])})"),
            ("cart_total", lambda: f"sf.dim.cart_total.ge({rng.choice([9.99, 50, 100, 250.5])})"),
            ("account_created_at", lambda: f"sf.dim.account_created_at.lt('202{rng.randint(2, 5)}-01-01T00:00:00Z')"),
            ("workspace_id", lambda: "sf.dim.workspace_id.prefix('ws-test-')"),
            ("email", lambda: "sf.dim.email.contains('+beta', ignoreCase=true)"),
            ("service", lambda: "sf.dim.service.regex('^(api|web)-(canary|edge)$')"),
            ("beta_opt_in", lambda: "sf.dim.beta_opt_in.eq(true)"),
            ("workspace_id", lambda: "sf.dim.workspace_id.present()"),
            ("user_id", lambda: f"sf.dim.user_id.percent({rng.choice([1, 5, 10, 50])})"),
            ("service_version", lambda: f"sf.dim.service_version.ge('{rng.randint(1, 9)}.{rng.randint(0, 30)}.0')"),
        ]
        if self.keys and "flag" not in self.used and rng.random() < 0.05:
            self.used.add("flag")
            return f"sf.flagIs('{rng.choice(self.keys[-200:])}')"
        dim, pick = rng.choice([p for p in picks if p[0] not in self.used])
        self.used.add(dim)
        return pick()

    def overrides(self, serve: Callable[[], str], lib: bool, n_max: int = 3) -> str:
        rng = self.rng
        rules = [f"sf.when({self.cond()}).serve({serve()})" for _ in range(rng.choice([0, 0, 1, 1, 1, 2, n_max]))]
        if lib and rng.random() < 0.3:
            rules.insert(0, rng.choice(["team.noGov", "team.dogfood"]))
        if rules and rng.random() < 0.4:
            rules[-1] += ".describe('Requested by support.')"
        return "[\n    " + ",\n    ".join(rules) + ",\n  ]" if rules else "[]"

    def ramp(self, unit: str) -> str:
        rng, r = self.rng, self.rng.random()
        self.used.add(unit)
        if r >= 0.8:
            self.used.add("region")  # region waves and the custom pilot are scoped by region
        if r < 0.55:
            return f"sf.ramps.standard(unit='{unit}', stage={rng.randint(0, 5)})"
        if r < 0.8:
            return f"sf.ramps.cautious(unit='{unit}', stage={rng.randint(0, 7)})"
        if r < 0.92:
            waves = [REGIONS[1:4], REGIONS[4:8]]
            return (f"sf.ramps.regionWaves(canary='{REGIONS[0]}', waves={waves}, unit='{unit}', "
                    f"stage={rng.randint(0, 4)}, schedule=['2026-11-02T16:00:00Z', '2026-11-09T16:00:00Z'])")
        return (f"sf.ramps.custom(stages=[sf.ramps.stage(5, name='pilot', scope=sf.dim.region.eq('us-west-2')), "
                f"10, 50, 100], unit='{unit}', stage={rng.randint(0, 4)})")

    def tail(self) -> str:
        rng, out = self.rng, []
        if rng.random() < 0.08:
            service, major, minor = rng.choice(NOUNS), rng.randint(1, 5), rng.randint(0, 9)
            out.append(f"  requires: [sf.requires(service='{service}', minVersion='{major}.{minor}.0')],")
        if self.keys and "flag" not in self.used and rng.random() < 0.04:
            out.append(f"  prerequisites: [sf.prereq('{rng.choice(self.keys[-200:])}')],")
        if rng.random() < 0.01:
            out.append("  enabled: false,")
        return "\n".join(out)

    def flag(self, team: str, key: str, lib: bool) -> str:
        rng, r = self.rng, self.rng.random()
        self.used = set()
        self.is_bool = r < 0.60
        head = ("local sf = import 'safeflags.libsonnet';\n"
                + (f"local team = import 'teams/{team}.libsonnet';\n" if lib else ""))
        owner = "" if lib else f"  owner: 'team-{team}',\n"
        desc = f"  description: '{rng.choice(VERBS).capitalize()} {rng.choice(NOUNS)} handling for {key}.',\n"
        tail = self.tail()
        if r < 0.50:  # bool release ramp
            base = "team.release" if lib else "sf.bool"
            unit = rng.choice(["workspace_id", "workspace_id", "user_id"])
            body = (f"{owner}{desc}  expires: '{self.date()}',\n  default: false,\n"
                    f"  rollout: {self.ramp(unit)},\n"
                    f"  overrides: {self.overrides(lambda: rng.choice(['true', 'false']), lib)},\n")
        elif r < 0.60:
            base = "team.killSwitch" if lib else "sf.killSwitch"
            self.used.add("user_id")  # a kill switch acts on all traffic in scope: no percentages (SF305)
            body = (f"{owner}{desc}  overrides: {self.overrides(lambda: 'true', lib, 2)},\n"
                    "  suppress: [sf.suppress(code='SF401', reason='Permanent kill switch for incidents.')],\n")
            tail = ""
        elif r < 0.80:  # int / float config
            t = rng.choice(["int", "int", "float"])
            num: Callable[[], str] = (lambda: str(rng.choice([1, 5, 10, 50, 100, 500, 2000]))) if t == "int" else (
                lambda: str(rng.choice([0.5, 1.5, 2.25, 12.5, 99.9])))
            base = f"team.config('{t}')" if lib else f"sf.{t}"
            body = (f"{owner}{desc}  default: {num()},\n  bounds: sf.bounds(min=0, max=100000),\n"
                    f"  overrides: {self.overrides(num, False)},\n")
        elif r < 0.88:  # string config with variants
            names = rng.sample(["legacy", "v2", "v3", "fast", "safe", "eu", "us"], rng.randint(2, 4))
            ramped = rng.random() < 0.25
            ramp = f"{self.ramp('workspace_id')[:-1]}, serveVariant='{names[-1]}')" if ramped else ""
            variants = ", ".join(f"sf.variant('{n}', '{n}-{key[-6:]}')" for n in names)
            base = "team.config('string')" if lib else "sf.string"
            rules = ",\n    ".join(f"sf.when({self.cond()}).serveVariant('{rng.choice(names)}')"
                                      for _ in range(rng.randint(0, 3)))
            body = (f"{owner}{desc}  variants: [{variants}],\n  default: '{names[0]}-{key[-6:]}',\n"
                    f"  overrides: [{rules}],\n")
            if ramped:
                body += f"  rollout: {ramp},\n"
        elif r < 0.94:  # experiment
            values = rng.choice([["false", "true"], ["'control'", "'treatment'", "'holdout'"]])
            names = ["control", "treatment", "holdout"][: len(values)]
            self.is_bool = len(values) == 2
            variants = ", ".join(f"sf.variant('{n}', {v})" for n, v in zip(names, values, strict=True))
            weights = {2: "{ control: 50, treatment: 50 }",
                       3: "{ control: 45, treatment: 45, holdout: 10 }"}[len(values)]
            when = f", when={self.cond(1)}" if rng.random() < 0.5 else ""
            base = f"sf.experiment(variants=[{variants}], arms={weights}, unit='user_id'{when})"
            body = (f"  owner: 'team-{team}',\n{desc}  expires: '{self.date()}',\n  tags: ['experiment'],\n"
                    f"  default: {values[0]},\n")
        elif r < 0.97:  # migration
            base = f"sf.migration(state='{rng.choice(['A', 'AB', 'BA', 'B'])}')"
            body = f"  owner: 'team-{team}',\n{desc}  expires: '{self.date()}',\n"
        else:  # json config with a schema
            base = "sf.json"
            body = (f"  owner: 'team-{team}',\n{desc}  schema: {{ type: 'object', required: ['level'] }},\n"
                    f"  default: {{ level: 'info', sample_rate: 0.01, redact: ['email'] }},\n"
                    f"  overrides: [sf.when({self.cond()}).serve({{ level: 'debug', sample_rate: 1, redact: [] }})],\n")
        if "team." not in base + body:
            head = head.replace(f"local team = import 'teams/{team}.libsonnet';\n", "")
        return f"{head}\n{base} {{\n{body}{tail + chr(10) if tail else ''}}}\n"


BENCH = {
    "bench/plain_on.jsonnet": (
        "sf.bool {\n  owner: 'team-platform',\n  description: 'Benchmark (a): plain on.',\n  default: true,\n}\n"),
    "bench/country_pro.jsonnet": (
        "sf.bool {\n  owner: 'team-platform',\n  description: 'Benchmark (b): country in US/CA/GB and plan pro.',\n"
        "  default: false,\n  overrides: [sf.when(sf.all([sf.dim.country.in_(['US', 'CA', 'GB']), "
        "sf.dim.plan.eq('pro')])).serve(true)],\n}\n"),
    "bench/rollout_10.jsonnet": (
        "sf.bool {\n  owner: 'team-platform',\n  description: 'Benchmark (c): a 10 % rollout on user_id.',\n"
        "  expires: '2027-06-30',\n  default: false,\n"
        "  rollout: sf.ramps.custom(stages=[10, 100], unit='user_id', stage=1),\n}\n"),
}


def config(source: Path) -> str:
    data = yaml.safe_load((source / "safeflags.yaml").read_text(encoding="utf-8"))
    data["dimensions"]["plan"] = {"type": "enum", "values": ["free", "pro", "enterprise"],
                                  "description": "Billing plan of the account."}
    data.pop("validation", None)  # the example's repository-local validators are not copied
    data["owners"] = {f"team-{t}": {"description": f"The {t} team.", "contact": f"#{t}-oncall"} for t in TEAMS}
    return "# Generated by benchmarks/generate_repo.py\n" + yaml.safe_dump(data, sort_keys=False)


def generate(out: Path, flags: int, seed: int = 7, git: bool = True) -> list[str]:
    """Write the repository; returns its flag files (repo-relative)."""
    rng = random.Random(seed)
    if out.exists():
        shutil.rmtree(out)
    (out / "templates" / "teams").mkdir(parents=True)
    for lib in PACKAGED_TEMPLATES.glob("*.libsonnet"):  # vendored: the benchmarks edit it
        shutil.copy(lib, out / "templates" / lib.name)
    (out / "safeflags.yaml").write_text(config(SOURCE_REPO), encoding="utf-8")
    (out / ".gitignore").write_text(".safeflags-cache/\nbuild/\n", encoding="utf-8")
    for team in TEAMS:
        (out / "templates" / "teams" / f"{team}.libsonnet").write_text(team_library(team, rng), encoding="utf-8")
    written: list[str] = []
    for rel, body in BENCH.items():
        path = out / "flags" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("local sf = import 'safeflags.libsonnet';\n\n" + body, encoding="utf-8")
        written.append(f"flags/{rel}")
    gen = Gen(rng)
    n_ns = max(1, (flags - len(BENCH)) // 100)
    per_ns = [(flags - len(BENCH)) // n_ns + (1 if i < (flags - len(BENCH)) % n_ns else 0) for i in range(n_ns)]
    for i, count in enumerate(per_ns):
        team = TEAMS[i % len(TEAMS)]
        ns = f"{team}_{i // len(TEAMS)}" if i >= len(TEAMS) else team
        (out / "flags" / ns).mkdir(parents=True, exist_ok=True)
        for j in range(count):
            name = f"{rng.choice(VERBS)}_{rng.choice(NOUNS)}_{j:03d}"
            key = f"{ns}.{name}"
            text = gen.flag(team, key, lib=rng.random() < 0.85)
            (out / "flags" / ns / f"{name}.jsonnet").write_text(text, encoding="utf-8")
            written.append(f"flags/{ns}/{name}.jsonnet")
            if gen.is_bool:
                gen.keys.append(key)
    if git:
        git_init(out)
    return written


def git_init(out: Path) -> None:
    env_args = ["-c", "user.name=bench", "-c", "user.email=bench@example.com", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(out)], check=True)
    subprocess.run(["git", "-C", str(out), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(out), *env_args, "commit", "-q", "-m", "generated flag repository"], check=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--flags", type=int, default=25_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-git", action="store_true", help="do not make it a git repository")
    args = ap.parse_args(argv)
    files = generate(args.out, args.flags, args.seed, git=not args.no_git)
    print(f"wrote {len(files)} flags to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
