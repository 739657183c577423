"""The four report formats over one real outcome (tests/report/conftest.py):
what each shows, and that they agree on where every finding is."""
from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from safeflags.report import REPORTERS
from safeflags.validation.finding import Finding
from safeflags.validation.runner import Outcome
from safeflags.version import TEMPLATES_VERSION, __version__
from tests.report.conftest import RAMP

DATA = Path(__file__).parent / "data"
SCHEMA = json.loads((DATA / "sarif-2.1.0.json").read_text())


def render(fmt: str, outcome: Outcome, root: Path, prefix: str = "") -> str:
    return REPORTERS[fmt](root, prefix).render(outcome)


def line_of(root: Path, rel: str, needle: str) -> int:
    lines = (root / rel).read_text().splitlines()
    return next(i for i, text in enumerate(lines, start=1) if needle in text)


def only(outcome: Outcome, code: str, flag: str) -> Finding:
    (found,) = [f for f in outcome.findings if f.code == code and f.flag == flag]
    return found


def test_the_pull_request_is_judged_as_the_tests_expect(review: Outcome) -> None:
    assert {(f.code, f.flag) for f in review.findings} >= {("SF301", "ns.ramp"), ("SF302", "ns.ramp"),
                                                          ("TEAM001", "ns.hostile"), ("SF901", "ns.ramp")}
    assert {c.key for c in review.changes} == {"ns.ramp", "ns.tidy", "ns.hostile"}
    assert [(s.flag, s.code, len(s.silenced)) for s in review.suppressions] == [("ns.hostile", "SF401", 1)]


def test_text_quotes_the_line_with_a_caret_under_the_column(review: Outcome, review_root: Path) -> None:
    lines = render("text", review, review_root).splitlines()
    f = only(review, "SF301", "ns.ramp")
    i = lines.index(f"{RAMP}:{f.line}:{f.column}: error SF301 {f.message}")
    assert f.line == line_of(review_root, RAMP, "stage=4")
    assert lines[i + 1] == "      rollout: sf.ramps.standard(unit='workspace_id', stage=4),"
    assert lines[i + 2] == "    " + " " * (f.column - 1) + "^"
    assert lines[i + 3] == f"    hint: {f.hint}"
    # No column given: the caret is under the line's first character, not its indentation.
    reminder = only(review, "SF901", "ns.ramp")
    assert reminder.column == 0
    j = lines.index(f"{RAMP}:{reminder.line}:3: notice SF901 a ramp moved")
    assert lines[j + 2] == "      ^"
    assert lines[-1].startswith("safeflags: 2 errors, 3 warnings, 2 notices, 1 suppressed in 3 flags, 3 changed "
                                "against main (")


def test_json_schema_v1_with_the_changed_share(review: Outcome, review_root: Path) -> None:
    doc = json.loads(render("json", review, review_root, "sub/"))
    assert list(doc) == ["version", "tool", "mode", "base", "judged_alone", "summary", "findings", "suppressions",
                         "changes", "validators"]
    assert doc["version"] == 1 and doc["mode"] == "pull_request" and doc["base"]["ref"] == "main"
    assert doc["summary"]["errors"] == 2 and doc["summary"]["failed"] is True and doc["summary"]["suppressed"] == 1
    f = only(review, "SF301", "ns.ramp")
    assert {"code": "SF301", "name": "skipped-stage", "severity": "error", "message": f.message,
            "file": "sub/" + RAMP, "line": f.line, "column": f.column, "flag": "ns.ramp",
            "hint": f.hint} in doc["findings"]
    changes = {c["flag"]: c for c in doc["changes"]}
    ramp = changes["ns.ramp"]["exposure"]
    # 5 % -> 50 % of the 80 % of traffic outside eu-west-1, which the override holds off.
    assert list(ramp)[:4] == ["before", "after", "newly", "changed"]
    assert (ramp["before"], ramp["after"], ramp["newly"], ramp["changed"]) == pytest.approx((0.04, 0.4, 0.36, 0.36))
    scopes = {tuple(s["values"]): s for s in ramp["scopes"] if s["dim"] == "region"}
    assert scopes[("eu-west-1",)]["changed"] == 0 and scopes[("eu-west-1",)]["newly"] == 0
    assert scopes[("us-east-1", "us-west-2", "ap-south-1")]["changed"] == pytest.approx(0.45)
    assert all("changed" in s for c in doc["changes"] for s in c["exposure"]["scopes"])
    assert changes["ns.tidy"]["exposure"]["changed"] == 0
    silenced = doc["suppressions"][0]["silenced"][0]
    assert (silenced["code"], silenced["file"]) == ("SF401", "sub/flags/ns/hostile.jsonnet")


def test_sarif_is_valid_against_the_official_schema(review: Outcome, review_root: Path) -> None:
    doc = json.loads(render("sarif", review, review_root, "sub/"))
    jsonschema.Draft4Validator(SCHEMA).validate(doc)
    run = doc["runs"][0]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert rules["SF301"]["shortDescription"]["text"].startswith("A rollout that skips stages")
    assert "**How to fix**" in rules["SF301"]["help"]["markdown"]
    results = {(r["ruleId"], r["properties"]["flag"]): r for r in run["results"]}
    first = results[("SF301", "ns.ramp")]
    assert run["tool"]["driver"]["rules"][first["ruleIndex"]]["id"] == "SF301"
    f = only(review, "SF301", "ns.ramp")
    assert first["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "sub/" + RAMP}, "region": {"startLine": f.line, "startColumn": f.column}}
    assert first["message"]["text"] == f"{f.message} ({f.hint})"
    assert results[("SF401", "ns.hostile")]["suppressions"] == [
        {"kind": "inSource", "justification": review.suppressions[0].reason}]


def test_github_annotations_escape_and_carry_the_hint(review: Outcome, review_root: Path) -> None:
    lines = render("github", review, review_root, "sub/").splitlines()
    f = only(review, "SF301", "ns.ramp")
    assert (f"::error file=sub/{RAMP},line={f.line},col={f.column},title=SF301 skipped-stage::"
            + f.message.replace("%", "%25") + " — " + (f.hint or "").replace("%", "%25")) in lines
    (hostile,) = [x for x in lines if x.startswith("::warning file=sub/flags/ns/hostile.jsonnet,")]
    assert ",title=TEAM001 traffic-note::Ship </details>" in hostile
    assert "second line: 4.0%25 of traffic changes" in hostile and "— tell <b>team-a</b>" in hostile
    assert hostile.endswith("@acme/oncall `now`%0Aok")
    # Every finding is one line, each a workflow command, then the summary line.
    assert len(lines) == len(review.findings) + 1 and all(x.startswith("::") for x in lines[:-1])


def test_a_line_break_in_the_base_ref_starts_no_workflow_command(review: Outcome, review_root: Path) -> None:
    hostile = dataclasses.replace(review, base_ref="main\n::error::forged")
    last = render("github", hostile, review_root).splitlines()[-1]
    assert last.startswith("safeflags: ") and "main ::error::forged" in last


def _positions(fmt: str, outcome: Outcome, root: Path) -> list[tuple[str, int, int]]:
    """(file, line, column) of each finding as the format `fmt` reports it, in its order."""
    out = render(fmt, outcome, root)
    if fmt == "json":
        return [(f["file"], f["line"], f["column"]) for f in json.loads(out)["findings"]]
    if fmt == "sarif":
        found = []
        for r in json.loads(out)["runs"][0]["results"]:
            if "suppressions" in r:
                continue
            loc = r["locations"][0]["physicalLocation"]
            region = loc.get("region", {"startLine": 0, "startColumn": 0})
            found.append((loc["artifactLocation"]["uri"], region["startLine"], region["startColumn"]))
        return found
    if fmt == "github":
        props: list[dict[str, Any]] = [dict(p.split("=", 1) for p in line.split(" ", 1)[1].split("::", 1)[0]
                                            .split(",")) for line in out.splitlines()[:-1]]
        return [(p["file"], int(p.get("line", 0)), int(p.get("col", 0))) for p in props]
    found = []
    for line in out.splitlines():
        m = re.match(r"^(\S+?)(?::(\d+):(\d+))?: (?:error|warning|notice) ", line)
        if m:
            found.append((m[1], int(m[2] or 0), int(m[3] or 0)))
    return found


def test_every_format_puts_a_finding_at_the_same_line_and_column(review: Outcome, review_root: Path) -> None:
    text = _positions("text", review, review_root)
    assert len(text) == len(review.findings)
    for fmt in ("json", "sarif", "github"):
        assert _positions(fmt, review, review_root) == text, fmt
    # Including a finding its validator gave a line but no column.
    reminder = only(review, "SF901", "ns.ramp")
    assert (RAMP, reminder.line, 3) in text


def test_findings_outside_the_change_are_counted_in_the_summary(review: Outcome, review_root: Path) -> None:
    scoped = dataclasses.replace(review, hidden=3)
    text = render("text", scoped, review_root)
    assert re.search(r"3 changed against main; 3 more on flags the change does not touch \(--all-findings shows "
                     r"them\) \(\d+\.\d s; safeflags \S+, templates .+\)$", text.splitlines()[-1])
    summary = json.loads(render("json", scoped, review_root))["summary"]
    assert (summary["hidden"], summary["scope"]) == (3, "change")
    everything = dataclasses.replace(review, context=dataclasses.replace(review.context, scope=None))
    assert json.loads(render("json", everything, review_root))["summary"]["scope"] == "all"


def test_json_and_sarif_name_the_compiler_and_the_template_library(review: Outcome, review_root: Path) -> None:
    vendored = f"{TEMPLATES_VERSION} (vendored in templates/)"  # the pull request's repository keeps a copy
    doc = json.loads(render("json", review, review_root))
    assert doc["tool"] == {"name": "safeflags", "version": __version__, "templates": vendored}
    tool = json.loads(render("sarif", review, review_root))["runs"][0]["tool"]
    assert tool["driver"]["version"] == __version__
    assert tool["extensions"] == [{"name": "safeflags-templates", "version": vendored}]
