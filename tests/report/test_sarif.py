"""SARIF for code scanning: fingerprints that keep one alert open from day
to day, and rule documentation links that come from configuration."""
from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from safeflags.report.sarif import SarifReporter, fingerprint, stable_message
from safeflags.validation.runner import Outcome
from tests.report.conftest import BASE, HEAD, RAMP, VALIDATION, ramp
from tests.report.pullrequest import TODAY, PullRequestRepo

SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-2.1.0.json").read_text())


def sarif(outcome: Outcome, root: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(SarifReporter(root).render(outcome))
    jsonschema.Draft4Validator(SCHEMA).validate(doc)
    return doc


def prints(outcome: Outcome, root: Path) -> dict[tuple[str, str], str]:
    """(rule, flag) -> fingerprint, for the findings that are one per rule and flag."""
    out: dict[tuple[str, str], str] = {}
    for r in sarif(outcome, root)["runs"][0]["results"]:
        out[(r["ruleId"], r["properties"]["flag"])] = r["partialFingerprints"]["safeflags/v1"]
    return out


@pytest.fixture(scope="module")
def days(tmp_path_factory: pytest.TempPathFactory) -> tuple[Outcome, Outcome, Outcome, Path]:
    """The review pull request validated on two days, then pushed again with
    the ramp taken further: the same findings with other dates and shares."""
    repo = PullRequestRepo(tmp_path_factory.mktemp("days"), BASE, VALIDATION)
    repo.pull_request("review", HEAD)
    first, second = repo.validate(TODAY), repo.validate(TODAY + timedelta(days=9))
    repo.pull_request("review", {**HEAD, RAMP: ramp(5)})
    return first, second, repo.validate(TODAY + timedelta(days=9)), repo.root


def test_a_finding_keeps_its_fingerprint_from_day_to_day(days: tuple[Outcome, Outcome, Outcome, Path]) -> None:
    first, second, further, root = days
    before, after = prints(first, root), prints(second, root)
    message = {(f.code, f.flag): f.message for f in first.findings}
    later = {(f.code, f.flag): f.message for f in second.findings}
    key = ("TEAM001", "ns.ramp")
    assert "as of 2026-11-22" in message[key] and "as of 2026-12-01" in later[key]
    assert before == after
    # Pushed again with a bigger step: other shares in the messages, the same alerts.
    pushed = prints(further, root)
    moved = {(f.code, f.flag): f.message for f in further.findings}
    for key in (("SF302", "ns.ramp"), ("TEAM001", "ns.ramp")):
        assert moved[key] != message[key]
        assert pushed[key] == before[key], key


def test_different_findings_have_different_fingerprints(review: Outcome, review_root: Path) -> None:
    results = sarif(review, review_root)["runs"][0]["results"]
    assert len({r["partialFingerprints"]["safeflags/v1"] for r in results}) == len(results)
    by = prints(review, review_root)
    # The same rule and message shape on two flags: two alerts.
    assert by[("TEAM001", "ns.ramp")] != by[("TEAM001", "ns.hostile")]
    assert by[("SF901", "ns.ramp")] != by[("SF901", "ns.hostile")]


def test_only_counts_shares_and_dates_are_left_out_of_the_hash(review: Outcome) -> None:
    f = next(f for f in review.findings if f.code == "SF302")
    a = dataclasses.replace(f, message="newly exposes ~36.0% of traffic (4.0% → 40.0% exposed), checked 2026-11-22")
    b = dataclasses.replace(f, message="newly exposes ~7 % of traffic (12.5% → 19.5% exposed), checked 2027-01-05")
    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(a) != fingerprint(dataclasses.replace(a, flag="ns.other"))
    assert fingerprint(a) != fingerprint(dataclasses.replace(a, file="flags/ns/other.jsonnet"))
    assert fingerprint(a) != fingerprint(dataclasses.replace(a, code="SF303"))
    assert fingerprint(a) != fingerprint(dataclasses.replace(a, message="newly hides ~36.0% of traffic"))
    # Numbers inside names are names.
    assert stable_message("edge_cache_v2 and api_v3 at 1,234 units, 12:30") == "edge_cache_v2 and api_v3 at # units, #"
    assert stable_message("expired 2026-11-22T10:00:00Z (12 days ago)") == "expired <date> (# days ago)"


def test_two_findings_alike_but_for_a_number_stay_two_alerts(review: Outcome, review_root: Path) -> None:
    f = next(f for f in review.findings if f.code == "SF901" and f.flag == "ns.ramp")
    twins = [dataclasses.replace(f, message="rule 3 can never match"),
             dataclasses.replace(f, message="rule 5 can never match", line=f.line + 1)]
    outcome = dataclasses.replace(review, findings=twins, suppressions=[])
    results = sarif(outcome, review_root)["runs"][0]["results"]
    assert results[0]["partialFingerprints"]["safeflags/v1"] == fingerprint(twins[0])
    assert results[1]["partialFingerprints"]["safeflags/v1"] != results[0]["partialFingerprints"]["safeflags/v1"]


def test_help_uri_comes_from_configuration(review: Outcome, review_root: Path) -> None:
    assert review.help_url == "https://docs.example.com/validators.md"
    doc = sarif(review, review_root)
    rules = {r["id"]: r for r in doc["runs"][0]["tool"]["driver"]["rules"]}
    assert rules["SF301"]["helpUri"] == "https://docs.example.com/validators.md#sf301-skipped-stage"
    assert all(r["helpUri"] == f"https://docs.example.com/validators.md#{code.lower()}-{r['name']}"
               for code, r in rules.items() if code.startswith("SF") and code != "SF901")
    # The repository's own: its link, or none (an SF code does not make a rule built-in).
    assert rules["TEAM001"]["helpUri"] == "https://wiki.example.com/flags/traffic-note"
    assert "helpUri" not in rules["SF901"]
    assert doc["runs"][0]["tool"]["driver"]["informationUri"] == "https://docs.example.com/validators.md"


def test_no_help_url_configured_links_no_built_in(review: Outcome, review_root: Path) -> None:
    doc = sarif(dataclasses.replace(review, help_url=None), review_root)
    rules = {r["id"]: r for r in doc["runs"][0]["tool"]["driver"]["rules"]}
    assert [code for code, r in rules.items() if "helpUri" in r] == ["TEAM001"]
    assert "informationUri" not in doc["runs"][0]["tool"]["driver"]
