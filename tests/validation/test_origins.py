"""Findings located where the pull request changed something.

A flag whose own file a pull request left alone changed through a library
file it imports: its findings belong at the library line the pull request
changed (safeflags.validation.origins, the runner's relocation, SF312).
Moving lines, reordering fields and editing comments is not a change.
"""
from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from safeflags.compile.driver import CompileResult
from safeflags.validation.api import Change, ChangeValidator, Context, FlagSpec, FlagValidator
from safeflags.validation.changes import pair
from safeflags.validation.finding import Finding
from safeflags.validation.origins import Origin, code_lines, first_change
from safeflags.validation.runner import run
from safeflags.validation.session import Options, validate
from tests.helpers.repo import ROOT, TEMPLATES, FlagRepo

TODAY = date(2026, 11, 22)

# --- which line changed ------------------------------------------------------


def test_code_lines_leave_out_comments_blanks_and_trailing_commas() -> None:
    text = ("// a comment\n"
            "local x = 'not // a comment',  # but this is\n"
            "\n"
            "/* a block\n"
            "   comment */ local y = \"a \\\" quote # kept\";\n"
            "local z = |||\n"
            "  text // kept\n"
            "|||;\n"
            "local v = @'it''s // kept';\n")
    assert code_lines(text) == [
        (2, "local x = 'not // a comment'"),
        (5, "local y = \"a \\\" quote # kept\";"),
        (6, "local z = |||"),
        (7, "text // kept"),
        (8, "|||;"),
        (9, "local v = @'it''s // kept';"),
    ]


BASE = """// Ramps.
local standard = [1, 5, 25, 50, 100];
local cautious = [0.1, 1, 5];
{
  standard:: standard,
  cautious:: cautious,
}
"""


@pytest.mark.parametrize(("head", "want"), [
    pytest.param(BASE, None, id="equal"),
    pytest.param(BASE.replace("// Ramps.", "// Ramps, reviewed."), (2, 1, 1), id="a comment is only text"),
    pytest.param(BASE.replace("[1, 5, 25", "[1, 10, 25"), (0, 2, 1), id="a changed line"),
    pytest.param(BASE.replace("// Ramps.", "// Ramps!").replace("[0.1, 1, 5]", "[0.1, 1, 10]"), (0, 3, 1),
                 id="the comment edited above is passed over"),
    pytest.param(BASE.replace("  standard:: standard,\n  cautious:: cautious,\n",
                              "  cautious:: cautious,\n  standard:: standard\n"), (1, 5, 3),
                 id="fields reordered are moved lines"),
    pytest.param("local cautious = [0.1, 1, 5];\n" + BASE.replace("local cautious = [0.1, 1, 5];\n", "")
                 .replace("[1, 5, 25", "[1, 10, 25"), (0, 3, 1),
                 id="a line moved and edited"),
    pytest.param(BASE.replace("local cautious = [0.1, 1, 5];\n", ""), (0, 3, 1),
                 id="deleted code points at the line that follows it"),
    pytest.param(BASE.replace("  cautious", "\tcautious"), (2, 6, 2), id="indentation only"),
])
def test_first_change(head: str, want: tuple[int, int, int] | None) -> None:
    assert first_change(BASE, head) == want


# --- relocation, on two compiled trees ---------------------------------------

TEAM = """local sf = import 'safeflags.libsonnet';
// The team's ramp.
{
  ramp(stage):: sf.ramps.custom([1, 5, 25, 50, 100], unit='workspace_id', stage=stage),
}
"""
ON_TEAM_RAMP = """local team = import 'team.libsonnet';
sf.bool {
  owner: 'team-billing',
  description: 'On the team ramp.',
  expires: '2027-06-30',
  default: false,
  rollout: team.ramp(2),
}
"""


class AtRollout(ChangeValidator):
    """A change validator that reports every change at its rollout line."""

    code = "SF990"
    name = "at-rollout"

    def check_change(self, change: Change, ctx: Context) -> Iterator[Finding]:
        if change.after is not None:
            yield self.at(change.after, "changed", ctx.field(change.after, "rollout"))


class EveryFlag(FlagValidator):
    """A per-flag validator: not a change's finding, never moved."""

    code = "SF991"
    name = "every-flag"

    def check_flag(self, flag: FlagSpec, ctx: Context) -> Iterator[Finding]:
        yield self.at(flag, "seen")


@pytest.fixture(scope="module")
def trees(tmp_path_factory: pytest.TempPathFactory) -> tuple[CompileResult, CompileResult]:
    tmp = tmp_path_factory.mktemp("trees")
    base, head = FlagRepo(tmp / "base"), FlagRepo(tmp / "head")
    for repo, team in ((base, TEAM), (head, TEAM.replace("[1, 5, 25", "[1, 10, 25"))):
        (repo.root / "templates" / "team.libsonnet").write_text(team)
        repo.write("billing.quiet", ON_TEAM_RAMP)  # the same bytes on both sides
        repo.write("billing.loud", ON_TEAM_RAMP if repo is base else ON_TEAM_RAMP.replace("On the", "Now on the"))
        repo.write("billing.plain", "sf.bool { owner: 'team-billing', description: 'Plain.', default: false }\n")
    return base.compile(jobs=1), head.compile(jobs=1)


def _context(trees: tuple[CompileResult, CompileResult]) -> Context:
    base, head = trees
    return Context(head, base, pair(base, head), today=TODAY)


def test_only_a_flag_whose_own_file_is_unchanged_has_an_origin(trees: tuple[CompileResult, CompileResult]) -> None:
    ctx = _context(trees)
    assert [c.key for c in ctx.changes] == ["billing.loud", "billing.quiet"]
    assert ctx.origins.of("billing.quiet") == Origin("templates/team.libsonnet", 4, 3)
    assert ctx.origins.of("billing.loud") is None  # its own file changed: its lines are the change
    assert ctx.origins.of("billing.plain") is None  # not changed at all


def test_a_change_finding_on_a_template_driven_flag_moves_to_the_template_line(
    trees: tuple[CompileResult, CompileResult],
) -> None:
    out = run(_context(trees), [AtRollout(), EveryFlag()], {})
    got = {(f.code, f.flag): (f.file, f.line, f.column, f.message) for f in out.findings}
    assert got[("SF990", "billing.quiet")] == (
        "templates/team.libsonnet", 4, 3,
        "changed (billing.quiet: flags/billing/quiet.jsonnet:8 via templates/team.libsonnet:4)")
    assert got[("SF990", "billing.loud")] == ("flags/billing/loud.jsonnet", 8, 3, "changed")
    # A per-flag check reads the head alone: it stays in the flag's file.
    assert got[("SF991", "billing.quiet")][0] == "flags/billing/quiet.jsonnet"


def test_outside_pull_request_mode_nothing_has_an_origin(trees: tuple[CompileResult, CompileResult]) -> None:
    ctx = Context(trees[1], today=TODAY)
    assert ctx.origins.of("billing.quiet") is None


# --- whole pull requests, in a real git repository ---------------------------

FLEET = 30  # flags at the standard ramp's 5 % stage


def git(repo: Path, *args: str) -> str:
    identity = ["-c", "user.name=dev", "-c", "user.email=dev@example.com", "-c", "commit.gpgsign=false"]
    return subprocess.run(["git", *identity, *args], cwd=repo, check=True, capture_output=True, text=True).stdout


RAMPED = """
sf.bool {{
  owner: 'team-search',
  description: 'Fleet flag {i}.',
  expires: '2027-06-30',
  default: false,
  rollout: sf.ramps.standard(unit='workspace_id', stage={stage}),
}}
"""
# Conditions and a rollout: every kind of location a move shifts.
TARGETED = """
sf.bool {
  owner: 'team-search',
  description: 'Targeted.',
  expires: '2027-06-30',
  default: false,
  overrides: [
    sf.when(sf.dim.region.in_(['us-gov-west-1'])).serve(false),
  ],
  rollout: sf.ramps.custom([sf.ramps.stage(5, scope=sf.dim.region.eq('us-west-2')), 100],
                           unit='workspace_id', stage=1),
}
"""
# TARGETED with its fields reordered, lines moved and comments edited.
TARGETED_MOVED = """
// Reordered for review; nothing changes.
sf.bool {
  rollout: sf.ramps.custom(
    [sf.ramps.stage(5, scope=sf.dim.region.eq('us-west-2')), 100],  // pilot first
    unit='workspace_id',
    stage=1,
  ),
  owner: 'team-search',

  /* Who sees it. */
  overrides: [sf.when(sf.dim.region.in_(['us-gov-west-1'])).serve(false)],
  default: false,
  expires: '2027-06-30',
  description: 'Targeted.',
}
"""


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    flags = FlagRepo(tmp_path_factory.mktemp("flagrepo"))
    shutil.copytree(ROOT / "validators", flags.root / "validators",
                    ignore=shutil.ignore_patterns("__pycache__", "test_*.py"))
    shutil.copy(ROOT / "deployments.yaml", flags.root / "deployments.yaml")
    for i in range(FLEET):
        flags.write(f"search.fleet_{i:02d}", RAMPED.format(i=i, stage=2))
    flags.write("search.wide", RAMPED.format(i="wide", stage=3))  # 25 %: the edit does not move it
    flags.write("search.targeted", TARGETED)
    (flags.root / ".gitignore").write_text(".safeflags-cache/\n__pycache__/\n")
    git(flags.root, "init", "-q", "-b", "main")
    git(flags.root, "add", "-A")
    git(flags.root, "commit", "-qm", "base")
    return flags.root


def _branch(repo: Path, name: str, edits: list[tuple[str, str, str]]) -> None:
    """Commit a pull request on branch `name`: each edit replaces `old` by `new` once in a file."""
    git(repo, "checkout", "-q", "-B", name, "main")
    for rel, old, new in edits:
        path = repo / rel
        text = path.read_text()
        assert old in text, f"{old!r} not in {rel}"
        path.write_text(text.replace(old, new, 1))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", name)


def _line_of(repo: Path, rel: str, needle: str) -> int:
    lines = (repo / rel).read_text().split("\n")
    return next(i + 1 for i, line in enumerate(lines) if needle in line)


def test_a_template_edit_doubling_the_5_percent_stage_is_one_finding_at_its_line(repo: Path) -> None:
    _branch(repo, "double-stage", [
        # A comment edited above the change: not where the change is.
        ("templates/ramps.libsonnet", "// Staged rollouts:", "// Staged rollouts (the team's):"),
        ("templates/ramps.libsonnet", "[1, 5, 25, 50, 100]", "[1, 10, 25, 50, 100]"),
    ])
    out = validate(Options(repo, base="main", today=TODAY, jobs=1))
    line = _line_of(repo, "templates/ramps.libsonnet", "[1, 10, 25, 50, 100]")
    budget = [f for f in out.findings if f.code == "SF312"]
    assert [(f.file, f.line, f.column) for f in budget] == [("templates/ramps.libsonnet", line, 1)]
    message = budget[0].message
    assert f"newly exposes {FLEET} flags, ~{FLEET * 5:.1f}% of one flag's traffic" in message
    assert f"this line moves {FLEET} of them: search.fleet_00, search.fleet_01," in message
    assert "search.fleet_19 +10 more" in message and "search.fleet_20" not in message
    assert "search.wide" not in message  # its spec changed (the plan), its exposure did not
    assert out.failed


def test_moving_lines_reordering_fields_and_editing_comments_is_no_change(repo: Path) -> None:
    ramps = (TEMPLATES / "ramps.libsonnet").read_text()
    # Swap two template functions and edit comments in the library.
    standard = ramps[ramps.index("  // 1 -> 5 -> 25"):ramps.index("  // 0.1 -> 1 -> 5")]
    cautious = ramps[ramps.index("  // 0.1 -> 1 -> 5"):ramps.index("  // Region by region")]
    _branch(repo, "cosmetic", [
        ("templates/ramps.libsonnet", standard + cautious,
         cautious.replace("// 0.1", "// A careful ramp: 0.1") + standard),
        ("flags/search/targeted.jsonnet", TARGETED, TARGETED_MOVED),
        ("flags/search/fleet_00.jsonnet", "  owner: 'team-search',\n  description: 'Fleet flag 0.',\n",
         "  description: 'Fleet flag 0.',  // what it is\n  owner: 'team-search',\n"),
    ])
    out = validate(Options(repo, base="main", today=TODAY, jobs=1))
    assert out.changes == []
    assert out.findings == []
