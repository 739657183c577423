"""The four report formats over one synthetic outcome: a ramp that moved
two stages, a finding with characters that need escaping, a suppression."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jsonschema
import pytest

from safeflags.compile.config import load_config
from safeflags.compile.driver import CompileResult
from safeflags.report import REPORTERS, markdown_summary
from safeflags.v1 import common_pb2, spec_pb2
from safeflags.validation import registry
from safeflags.validation.api import Change, Context
from safeflags.validation.finding import Finding, Severity, Suppression
from safeflags.validation.runner import Outcome
from tests.validation.harness import HERE as CASES_HERE

DATA = Path(__file__).parent / "data"
FILE = "flags/ns/ramp.jsonnet"
SOURCE = ("local sf = import 'safeflags.libsonnet';\n"
          "sf.bool {\n  rollout: sf.ramps.standard(unit='workspace_id', stage=4),\n}\n")


def _spec(stage: int) -> spec_pb2.FlagSpec:
    spec = spec_pb2.FlagSpec(key="ns.ramp", type=common_pb2.FLAG_TYPE_BOOL, kind=common_pb2.FLAG_KIND_RELEASE,
                             enabled=True, default=common_pb2.Value(bool_value=False),
                             location=common_pb2.Location(file=FILE, line=2, column=1))
    spec.overrides.add(when=spec_pb2.Condition(op=spec_pb2.Condition.OP_IN, dim="region",
                                               values=[common_pb2.Value(string_value="eu-west-1")]),
                       serve=spec_pb2.Serve(value=common_pb2.Value(bool_value=False)))
    ro = spec.rollout
    ro.stage, ro.unit = stage, "workspace_id"
    ro.serve.value.bool_value = True
    for p in (1, 5, 25, 50, 100):
        ro.stages.add(name=f"{p}%", percent=p)
    return spec


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    root = tmp_path_factory.mktemp("repo")
    (root / "safeflags.yaml").write_text((CASES_HERE / "data" / "safeflags.yaml").read_text())
    (root / FILE).parent.mkdir(parents=True)
    (root / FILE).write_text(SOURCE)
    config = load_config(root)
    before, after = _spec(2), _spec(4)
    head = CompileResult(config, specs={"ns.ramp": after}, files={"ns.ramp": FILE})
    base = CompileResult(config, specs={"ns.ramp": before}, files={"ns.ramp": FILE})
    ctx = Context(head, base, [Change("ns.ramp", "modified", before, after)])
    validators = [cls() for cls in registry.load(root)]
    findings = [
        Finding("SF301", Severity.ERROR, "skips stage 3 (25%), really:\nyes", FILE, 3, 51, "ns.ramp",
                "one stage per PR"),
        Finding("SF404", Severity.WARNING, "stale", FILE, 0, 0, "ns.ramp"),
    ]
    silenced = Finding("SF401", Severity.WARNING, "needs an expiry date", FILE, 2, 1, "ns.ramp")
    sup = Suppression("ns.ramp", "SF401", "Permanent on purpose, reviewed.", FILE, (silenced,))
    return Outcome(ctx, validators, findings, [sup], [], 1.25, "main", "0" * 40)


def test_text(outcome: Outcome) -> None:
    text = REPORTERS["text"](outcome.context.head.config.root).render(outcome)
    lines = text.splitlines()
    assert lines[0] == "flags/ns/ramp.jsonnet:3:51: error SF301 skips stage 3 (25%), really:"
    assert lines[2] == "      rollout: sf.ramps.standard(unit='workspace_id', stage=4),"
    assert lines[3] == "    " + " " * 50 + "^"
    assert "flags/ns/ramp.jsonnet: warning SF404 stale" in lines
    assert lines[-1] == "safeflags: 1 error, 1 warning, 1 suppressed in 1 flag, 1 changed against main (1.2 s)"


def test_json_schema_v1(outcome: Outcome) -> None:
    doc = json.loads(REPORTERS["json"](Path("."), "sub/").render(outcome))
    assert list(doc) == ["version", "tool", "mode", "base", "summary", "findings", "suppressions", "changes",
                         "validators"]
    assert doc["version"] == 1 and doc["mode"] == "pull_request"
    assert doc["summary"]["errors"] == 1 and doc["summary"]["failed"] is True
    assert doc["findings"][0] == {"code": "SF301", "name": "skipped-stage", "severity": "error",
                                  "message": "skips stage 3 (25%), really:\nyes", "file": "sub/flags/ns/ramp.jsonnet",
                                  "line": 3, "column": 51, "flag": "ns.ramp", "hint": "one stage per PR"}
    change = doc["changes"][0]
    # 5 % -> 50 % of the 80 % of traffic outside eu-west-1.
    assert change["exposure"]["before"] == pytest.approx(0.04) and change["exposure"]["newly"] == pytest.approx(0.36)
    assert {s["values"][0] for s in change["exposure"]["scopes"] if s["dim"] == "region"} >= {"eu-west-1"}


def test_sarif_is_valid_against_the_official_schema(outcome: Outcome) -> None:
    doc = json.loads(REPORTERS["sarif"](Path("."), "sub/").render(outcome))
    schema = json.loads((DATA / "sarif-2.1.0.json").read_text())
    jsonschema.Draft4Validator(schema).validate(doc)
    run = doc["runs"][0]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert rules["SF301"]["shortDescription"]["text"].startswith("A rollout that skips stages")
    assert "**How to fix**" in rules["SF301"]["help"]["markdown"]
    first = run["results"][0]
    assert first["ruleId"] == "SF301" and run["tool"]["driver"]["rules"][first["ruleIndex"]]["id"] == "SF301"
    assert first["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "sub/flags/ns/ramp.jsonnet"}, "region": {"startLine": 3, "startColumn": 51}}
    assert "region" not in run["results"][1]["locations"][0]["physicalLocation"]
    assert run["results"][2]["suppressions"] == [
        {"kind": "inSource", "justification": "Permanent on purpose, reviewed."}]


def test_github_annotations_escape(outcome: Outcome) -> None:
    lines = REPORTERS["github"](Path("."), "sub/").render(outcome).splitlines()
    assert lines[0] == ("::error file=sub/flags/ns/ramp.jsonnet,line=3,col=51,title=SF301 skipped-stage::"
                        "skips stage 3 (25%25), really:%0Ayes — one stage per PR")
    assert lines[1] == "::warning file=sub/flags/ns/ramp.jsonnet,title=SF404 stale-rollout::stale"


def test_markdown_summary_shows_exposure_per_scope(outcome: Outcome) -> None:
    md = markdown_summary(outcome)
    assert "**`ns.ramp`** (modified, `flags/ns/ramp.jsonnet`): exposure 4.0 % → 40.0 %, newly exposed 36.0 %" in md
    assert "| region: eu-west-1 | 0 % | 0 % | 0 % |" in md
    assert "| region: us-east-1, us-west-2, ap-south-1 | 5.0 % | 50.0 % | 45.0 % |" in md
    assert "| ❌ | SF301 | `flags/ns/ramp.jsonnet:3` |" in md
    assert "| `ns.ramp` | SF401 | 1 | Permanent on purpose, reviewed. |" in md


def test_findings_outside_the_change_are_counted_in_the_summary(outcome: Outcome) -> None:
    in_scope = dataclasses.replace(outcome.context, scope=frozenset({"ns.ramp"}))
    scoped = dataclasses.replace(outcome, context=in_scope, hidden=3)
    text = REPORTERS["text"](scoped.context.head.config.root).render(scoped)
    assert text.splitlines()[-1].endswith("1 changed against main; 3 more on flags the change does not touch "
                                          "(--all-findings shows them) (1.2 s)")
    summary = json.loads(REPORTERS["json"](Path(".")).render(scoped))["summary"]
    assert (summary["hidden"], summary["scope"]) == (3, "change")
    assert json.loads(REPORTERS["json"](Path(".")).render(outcome))["summary"]["scope"] == "all"
