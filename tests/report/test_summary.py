"""The Markdown job summary: what a reviewer reads first, what it folds
away, the escaping of every text a pull request writes, and its byte
budget on a pull request that moves hundreds of flags."""
from __future__ import annotations

import dataclasses
import html
import json
import re
from pathlib import Path
from urllib.parse import unquote

import pytest
from markdown_it import MarkdownIt

from safeflags.report import REPORTERS, markdown_summary
from safeflags.report.summary import LIMIT, Section, has_effect, shares
from safeflags.validation.finding import Severity
from safeflags.validation.runner import Outcome
from tests.report.conftest import BASE, HEADER, HOSTILE_REASON, VALIDATION, tidy
from tests.report.pullrequest import PullRequestRepo

RENDER = MarkdownIt("commonmark", {"html": True}).enable("table").enable("strikethrough")
MARKS = ("| ❌ |", "| ⚠️ |", "| ℹ️ |")


def size(text: str) -> int:
    return len(text.encode("utf-8"))


def tags(rendered: str) -> set[str]:
    return set(re.findall(r"</?([a-zA-Z][a-zA-Z0-9]*)", rendered))


def visible(rendered: str) -> str:
    """What a reader sees of rendered HTML: the text, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", rendered))


def check_html(summary: str) -> str:
    """Render as GitHub would; the summary's own markup is the only markup."""
    rendered = RENDER.render(summary)
    assert tags(rendered) <= {"h2", "h3", "p", "table", "thead", "tbody", "tr", "th", "td", "code", "strong",
                              "sub", "details", "summary"}, tags(rendered) - {"h2"}
    assert rendered.count("<details>") == rendered.count("</details>") == summary.count("<details>")
    for table in re.findall(r"<table>.*?</table>", rendered, flags=re.S):
        width = len(re.findall(r"<th[ >]", table))
        for row in re.findall(r"<tr>(.*?)</tr>", table, flags=re.S)[1:]:
            assert len(re.findall(r"<td[ >]", row)) == width, row
    return rendered


# --- the review pull request ------------------------------------------------

def test_findings_come_first_with_their_hints(review: Outcome) -> None:
    md = markdown_summary(review)
    assert md.index("### Findings") < md.index("### Changed flags") < md.index("### Suppressions")
    rows = [line for line in md.splitlines() if line.startswith(MARKS)]
    assert len(rows) == len(review.findings)
    assert [r[:5] for r in rows] == sorted((r[:5] for r in rows), key=lambda m: [x[:5] for x in MARKS].index(m))
    ramp = next(r for r in rows if "`SF302`" in r)
    assert "| take a smaller step, or get approval" in ramp
    seen = visible(check_html(md)).replace("\u200b", "")
    hinted = [f for f in review.findings if f.hint]
    assert hinted and all(" ".join((f.hint or "").split()).replace("`", "") in seen for f in hinted)


def test_a_change_without_effect_is_one_line_and_no_table(review: Outcome) -> None:
    md = markdown_summary(review)
    assert "2 flags of 3 changed what is served." in md
    assert "No effect on what is served: 1 changed flag:\n`ns.tidy`\n" in md
    assert "**`ns.tidy`**" not in md


def test_a_flag_with_effect_has_a_changed_column_and_folds_its_quiet_scopes(review: Outcome) -> None:
    md = markdown_summary(review)
    assert ("**`ns.ramp`** (modified, `flags/ns/ramp.jsonnet`): changed 36.0 %, exposure 4.0 % → 40.0 %, "
            "newly exposed 36.0 %") in md
    assert "| scope | before | after | newly exposed | changed |" in md
    assert "| region: us-east-1, us-west-2, ap-south-1 | 5.0 % | 50.0 % | 45.0 % | 45.0 % |" in md
    assert "| no effect in 1 scope: region: eu-west-1 | unchanged | unchanged | 0 % | 0 % |" in md
    assert "| region: eu-west-1 |" not in md
    # No static dimension read: the sentence says it all, no table.
    hostile = md.split("**`ns.hostile`**", 1)[1].split("\n\n", 2)
    assert not hostile[1].startswith("|")


def test_hostile_text_renders_as_text(review: Outcome) -> None:
    md = markdown_summary(review, "sub/")
    rendered = check_html(md)
    visible = html.unescape(re.sub(r"<(?!/?(?:td|code)\b)[^>]+>", "", rendered))
    assert "Ship </details><img src=x onerror=alert(1)> | pipe " in visible
    assert "<script>alert(2)</script>" in visible and "&amp; <script>" in visible  # an entity stays text
    assert "@acme" not in visible and "@\u200bacme/admins" in visible
    reason = HOSTILE_REASON.replace("\\n", " ")
    assert "</details><img src=x onerror=alert(1)> | @\u200bacme/admins" in visible and reason[-8:] in visible
    assert "| `ns.hostile` | `SF401` | 1 |" in md
    assert "`sub/flags/ns/hostile.jsonnet:4:3`" in md


def test_a_hostile_file_name_is_escaped_everywhere(tmp_path: Path) -> None:
    repo = PullRequestRepo(tmp_path / "repo", BASE, VALIDATION)
    evil = "flags/ns/a`b|<img src=x onerror=alert(1)>\n@acme c.jsonnet"
    repo.pull_request("evil", {evil: tidy("A flag file with a name that attacks every report.")})
    outcome = repo.validate()
    assert [(f.code, f.file) for f in outcome.findings] == [("SF106", evil)]
    md = markdown_summary(outcome)
    seen = visible(check_html(md))
    assert "a`b|<img src=x onerror=alert(1)> @acme c.jsonnet" in seen
    annotation = REPORTERS["github"](repo.root).render(outcome).splitlines()[0]
    assert annotation.startswith("::error file=flags/ns/a`b|<img src=x onerror=alert(1)>%0A@acme c.jsonnet,title=")
    sarif = json.loads(REPORTERS["sarif"](repo.root).render(outcome))
    uri = sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "flags/ns/a%60b%7C%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E%0A%40acme%20c.jsonnet"
    assert unquote(uri) == evil


def test_a_clean_run_and_an_empty_change(review: Outcome) -> None:
    clean = dataclasses.replace(review, findings=[], suppressions=[],
                                context=dataclasses.replace(review.context, changes=[]))
    md = markdown_summary(clean)
    assert md.startswith("## ✅ safeflags validate: 0 errors, 0 warnings\n")
    assert "No flag changed." in md and "### Findings" not in md and "### Suppressions" not in md
    check_html(md)


# --- the budget -------------------------------------------------------------

def test_fair_shares() -> None:
    assert shares([10, 1000, 1000], 1000) == [10, 495, 495]
    assert shares([10, 20], 1000) == [10, 20]
    assert shares([300, 5000, 100], 900) == [300, 500, 100]
    assert sum(shares([7, 7, 7], 10)) <= 10


@pytest.mark.parametrize("budget", [0, 40, 120, 160, 400, 4000])
def test_a_cut_section_fits_its_budget_and_counts_what_it_left_out(budget: int) -> None:
    head = ["### Things", "", "| thing |", "|---|"]
    section = Section(head, [f"| item {i} |" for i in range(1000)], "things", "the JSON report")
    lines = section.render(budget)
    assert sum(size(x) + 1 for x in lines) <= budget
    kept = sum(1 for x in lines if x.startswith("| item "))
    noted = re.search(r"([\d,]+) (?:more )?things", "\n".join(lines))
    if lines:
        assert noted and kept + int(noted[1].replace(",", "")) == 1000
        rendered = check_html("\n".join(lines))
        assert rendered.count("<tr>") == (kept + 1 if kept else 0)  # the note is never a row
    if budget >= 160:
        assert lines[0] == "### Things"


# Enough to overflow every budget tested (each finding's row is ~200 bytes; uncut, the summary is some 200 KB,
# three times LIMIT), few enough to compile in seconds: the test asserts that every budget cuts the findings,
# the flags that change what is served and the suppressions.
N_MOVED, N_QUIET = 500, 120
TEMPLATE = ("local sf = import 'safeflags.libsonnet';\n{\n  ramp(first):: sf.ramps.custom(\n"
            "    [sf.ramps.stage(FIRST), sf.ramps.stage(100)], unit='workspace_id', stage=1),\n}\n")


def _bulk(i: int, description: str) -> str:
    # One of 150 first stages, so the template edit moves the flags in 150 different ways.
    first = 1 + (i % 150) / 10
    return HEADER + f"""local b = import 'bulk.libsonnet';
sf.bool {{
  owner: 'team-a',
  description: '{description}',
  default: false,
  suppress: [{{code: 'SF401', reason: '{HOSTILE_REASON} #{i}'}}],
  rollout: b.ramp(first={first}),
}}
"""


def _quiet(description: str) -> str:
    return HEADER + f"""sf.bool {{
  owner: 'team-b',
  description: '{description}',
  default: false,
  suppress: [{{code: 'SF401', reason: '{HOSTILE_REASON}'}}],
}}
"""


@pytest.fixture(scope="module")
def template_edit(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    """A template edit doubling the first stage of N_MOVED flags, and N_QUIET
    flags reworded only: hundreds of changes, findings and suppressions."""
    files = {"templates/bulk.libsonnet": TEMPLATE.replace("FIRST", "first")}
    files |= {f"flags/bulk/moved_{i:04d}.jsonnet": _bulk(i, "x") for i in range(N_MOVED)}
    files |= {f"flags/bulk/quiet_{i:04d}.jsonnet": _quiet("y") for i in range(N_QUIET)}
    repo = PullRequestRepo(tmp_path_factory.mktemp("bulk"), files)
    edit: dict[str, str | None] = {"templates/bulk.libsonnet": TEMPLATE.replace("FIRST", "std.min(first * 2, 100)")}
    edit |= {f"flags/bulk/quiet_{i:04d}.jsonnet": _quiet("<b>z</b>|@acme") for i in range(N_QUIET)}
    repo.pull_request("template", edit)
    return repo.validate()


def _noted(md: str, noun: str) -> int:
    m = re.search(rf"… and ([\d,]+) more {noun}: see|^([\d,]+) {noun}, not shown here: see", md, flags=re.M)
    return int((m[1] or m[2]).replace(",", "")) if m else 0


@pytest.mark.slow
@pytest.mark.parametrize("limit", [LIMIT, 20_000, 6_000])
def test_a_template_edit_over_hundreds_of_flags_stays_under_the_limit(template_edit: Outcome, limit: int) -> None:
    outcome = template_edit
    moving = [c for c in outcome.changes if has_effect(outcome.context.exposure(c))]
    assert len(outcome.changes) == N_MOVED + N_QUIET and len(moving) == N_MOVED
    assert len(outcome.findings) >= N_MOVED and len(outcome.suppressions) == N_MOVED + N_QUIET
    md = markdown_summary(outcome, limit=limit)
    assert size(md) < limit
    check_html(md)
    assert all(_noted(md, noun) for noun in ("findings", "flags that change what is served", "suppressions"))
    # Every section says how much of it is left out, and the counts add up.
    rows = [line for line in md.splitlines() if line.startswith(MARKS)]
    assert len(rows) + _noted(md, "findings") == len(outcome.findings)
    errors = outcome.count(Severity.ERROR)
    assert f"({errors:,} errors in all)" in md
    assert all(r.startswith("| ❌ |") for r in rows[: min(len(rows), errors)])
    shown = sum(int(m[1].replace(",", "")) if m[1] else 1
                for m in re.finditer(r"^\*\*(?:([\d,]+) flags|`[^`]+`)\*\*", md, flags=re.M))
    assert shown + _noted(md, "flags that change what is served") == N_MOVED
    newly = [float(x) for x in re.findall(r"^\*\*.*?newly exposed (\d+(?:\.\d+)?) %", md, flags=re.M)]
    assert newly == sorted(newly, reverse=True) and newly[0] == pytest.approx(100 * max(
        outcome.context.exposure(c).newly for c in moving), abs=0.05)  # what a cut leaves out moves least
    quiet = len(re.findall(r"`bulk\.quiet_\d+`", md))
    assert quiet + _noted(md, "flags without effect") == N_QUIET
    suppressed = sum(1 for line in md.splitlines() if line.startswith("| `bulk."))
    assert suppressed + _noted(md, "suppressions") == N_MOVED + N_QUIET
    if limit == LIMIT:
        # The full budget shows some of every section, and the flags without effect stay folded.
        assert rows and shown and suppressed
        assert f"<details><summary>No effect on what is served: {N_QUIET} changed flags" in md
        assert re.search(r"^\*\*\d+ flags\*\* \(modified\), each changed ", md, flags=re.M)


def test_the_budget_holds_past_any_one_huge_text(review: Outcome) -> None:
    giant = [dataclasses.replace(f, message="<b>" * 50_000, hint="|" * 50_000) for f in review.findings] * 40
    md = markdown_summary(dataclasses.replace(review, findings=giant))
    assert size(md) < LIMIT
    check_html(md)
    rows = [line for line in md.splitlines() if line.startswith(MARKS)]
    assert rows and all(size(r) < 8_000 for r in rows)
    assert len(rows) + _noted(md, "findings") == len(giant)
