"""Literals every SDK must read the same way: dates are real calendar days,
timestamps are RFC 3339 (or a date alone), versions are semver 2.0.0. A
literal outside its grammar is a located compile error (SF109 for dates,
`not_before` and `min_version`; SF103 for a condition's operand, which is
typed against its dimension) at the literal's own line and column — never a
validator that crashes on it (SF401 used to, exit 2 with no location), and
never a second, looser reading in some SDK. The grammars themselves are
pinned in tests/sdk/kernel/test_timestamps.py and test_semver.py."""
from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from safeflags.cli.main import cli
from safeflags.compile.driver import CompileResult
from safeflags.source.errors import SourceError
from safeflags.validation.api import Context
from safeflags.validation.builtin.hygiene import Expiry, StaleRollout
from tests.helpers.repo import FlagRepo, bool_flag

BAD_DATES = ["2027-13-01", "2027-00-10", "2027-02-30", "2026-02-29", "2100-02-29", "2027-04-31", "0000-01-01",
             "20270101", "2027-1-01", "2027-W09-1", "2027-060", "2027-03-01T00:00:00Z",
             "\uff12\uff10\uff12\uff17-03-01", "2027-03-01\n", " 2027-03-01", ""]
BAD_TIMESTAMPS = ["20230101", "2023-W01-1", "2023-001", "20230101T000000Z", "2023-01-01T00:00:00",
                  "2023-01-01 00:00:00Z", "2023-01-01T00:00Z", "2023-01-01T24:00:00Z", "2023-01-01T23:59:60Z",
                  "2023-02-29T00:00:00Z", "2023-01-01T00:00:00+0100", "2023-01-01T00:00:00+01",
                  "2023-01-01T00:00:00+24:00", "2023-01-01T00:00:00.Z", "2023-13-01", "yesterday"]
GOOD_TIMESTAMPS = ["2023-01-01", "2023-01-01T00:00:00Z", "2024-02-29t23:59:59.999+05:30", "2023-06-30T23:59:59-00:00"]
BAD_VERSIONS = ["1.0.0-01", "1.0.0-rc.01", "01.0.0", "1.00.0", "1.0.0-", "1.0.0-rc..1", "1.0.0+", "1.0.0+a..b",
                "V1.0.0", "1.0.0 ", "1.x", "\uff11.0.0",
                # A request may say v2.14.0 or 2.14; a flag file writes the version in full.
                "v2.14.0", "2.14", "2"]
GOOD_VERSIONS = ["1.0.0-0a", "1.0.0-0", "1.0.0+01", "1.0.0-x-y.--", "2.14.0", "0.0.0-rc.1+b.7"]


def quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def expiring(field: str, text: str) -> str:
    return bool_flag(f"{field}: {quoted(text)},")


def scheduled(text: str) -> str:
    return bool_flag(f"rollout: sf.ramps.standard(unit='workspace_id', stage=1, schedule=[{quoted(text)}]),")


def created_after(text: str) -> str:
    return bool_flag(f"overrides: [sf.when(sf.dim.account_created_at.ge({quoted(text)})).serve(true)],")


def requiring(text: str) -> str:
    return bool_flag(f"requires: [sf.requires(service='billing', minVersion={quoted(text)})],")


def older_than(text: str) -> str:
    return bool_flag(f"overrides: [sf.when(sf.dim.app_version.lt({quoted(text)})).serve(true)],")


# Every case is one flag of one repository, compiled once (each flag's errors are its own).
CASES: dict[str, str] = {}


def case(body: str) -> str:
    key = f"lit.case_{len(CASES)}"
    CASES[key] = body
    return key


BAD_DATE_CASES = [pytest.param(case(expiring(f, t)), f, id=f"{f}={t!r}")
                  for f in ("expires", "fully_rolled_out_since") for t in BAD_DATES]
GOOD_DATE_CASES = [pytest.param(case(expiring(f, t)), id=f"{f}={t}")
                   for f in ("expires", "fully_rolled_out_since")
                   for t in ("2024-02-29", "2000-02-29", "2027-12-31", "0001-01-01", "9999-12-31")]
BAD_NOT_BEFORE = [pytest.param(case(scheduled(t)), id=repr(t)) for t in BAD_TIMESTAMPS]
BAD_INSTANTS = [pytest.param(case(created_after(t)), id=repr(t)) for t in BAD_TIMESTAMPS]
GOOD_INSTANTS = [pytest.param(case(form(t)), id=f"{form.__name__}={t}")
                 for form in (scheduled, created_after) for t in GOOD_TIMESTAMPS]
BAD_MIN_VERSIONS = [pytest.param(case(requiring(t)), id=repr(t)) for t in BAD_VERSIONS]
BAD_OPERANDS = [pytest.param(case(older_than(t)), id=repr(t)) for t in BAD_VERSIONS]
GOOD_VERSION_CASES = [pytest.param(case(form(t)), id=f"{form.__name__}={t}")
                      for form in (requiring, older_than) for t in GOOD_VERSIONS]


def built_ins_only(repo: FlagRepo) -> FlagRepo:
    # The example's settings name its team validator; these tests need the built-ins only.
    config = repo.root / "safeflags.yaml"
    config.write_text(config.read_text().partition("\nvalidation:")[0] + "\n")
    return repo


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> tuple[FlagRepo, CompileResult]:
    repo = FlagRepo(tmp_path_factory.mktemp("literals"))
    for key, body in CASES.items():
        repo.write(key, body)
    return repo, repo.compile(jobs=1, cache=False)


def errors_of(cases: tuple[FlagRepo, CompileResult], key: str) -> list[SourceError]:
    _, result = cases
    rel = f"flags/{key.replace('.', '/')}.jsonnet"
    return [e for e in result.errors if e.file == rel]


def located(cases: tuple[FlagRepo, CompileResult], key: str, field: str = "") -> SourceError:
    """The one error of flag `key`, checked to sit where its literal is written
    (or, for a literal Jsonnet spells with escapes, at its `field:`)."""
    repo, _ = cases
    errors = errors_of(cases, key)
    assert len(errors) == 1, [e.format() for e in errors]
    err = errors[0]
    lines = (repo.root / err.file).read_text().splitlines()
    assert 1 <= err.line <= len(lines) and err.column >= 1, err.format()
    assert lines[err.line - 1][err.column - 1:].startswith(("'", '"', field or "'")), err.format()
    return err


# --- dates ------------------------------------------------------------------

@pytest.mark.parametrize("key, field", BAD_DATE_CASES)
def test_a_date_that_is_not_a_real_day_is_located(cases: tuple[FlagRepo, CompileResult], key: str,
                                                  field: str) -> None:
    err = located(cases, key, field)
    assert (err.code, err.field_path) == ("SF109", field)
    assert "is not a calendar date" in err.message and err.hint and "YYYY-MM-DD" in err.hint


@pytest.mark.parametrize("key", GOOD_DATE_CASES + GOOD_INSTANTS + GOOD_VERSION_CASES)
def test_literals_in_their_grammar_compile(cases: tuple[FlagRepo, CompileResult], key: str) -> None:
    assert errors_of(cases, key) == [] and key in cases[1].specs


# --- timestamps -------------------------------------------------------------

@pytest.mark.parametrize("key", BAD_NOT_BEFORE)
def test_a_not_before_outside_rfc_3339_is_located(cases: tuple[FlagRepo, CompileResult], key: str) -> None:
    err = located(cases, key)
    assert (err.code, err.field_path) == ("SF109", "rollout.stages[0].not_before")
    assert err.hint and "RFC 3339" in err.hint


@pytest.mark.parametrize("key", BAD_INSTANTS)
def test_a_timestamp_operand_outside_rfc_3339_is_located(cases: tuple[FlagRepo, CompileResult], key: str) -> None:
    err = located(cases, key)
    assert (err.code, err.field_path) == ("SF103", "overrides[0].when.value")
    assert "is not a timestamp value" in err.message and err.hint and "RFC 3339" in err.hint


# --- versions ---------------------------------------------------------------

@pytest.mark.parametrize("key", BAD_MIN_VERSIONS)
def test_a_min_version_outside_semver_is_located(cases: tuple[FlagRepo, CompileResult], key: str) -> None:
    err = located(cases, key)
    assert (err.code, err.field_path) == ("SF109", "requires[0].min_version")
    assert err.hint and "semver 2.0.0" in err.hint


@pytest.mark.parametrize("key", BAD_OPERANDS)
def test_a_semver_operand_outside_semver_is_located(cases: tuple[FlagRepo, CompileResult], key: str) -> None:
    err = located(cases, key)
    assert (err.code, err.field_path) == ("SF103", "overrides[0].when.value")
    assert err.hint and "semver 2.0.0" in err.hint


# --- validate, end to end -----------------------------------------------------

def test_validate_reports_a_bad_date_located_in_json(tmp_path: Path) -> None:
    repo = built_ins_only(FlagRepo(tmp_path / "repo"))
    rel = repo.write("billing.dated", bool_flag("expires: '2027-13-01',"))
    repo.write("billing.old", bool_flag("expires: '2020-01-31',"))
    result = CliRunner().invoke(cli, ["validate", "--repo", str(repo.root), "--format", "json", "-j", "1"],
                                catch_exceptions=False)
    assert result.exit_code == 1, result.stdout + result.stderr  # findings, not a crash (2)
    doc = json.loads(result.stdout)
    [bad] = [f for f in doc["findings"] if f["code"] == "SF109"]
    assert (bad["file"], bad["line"], bad["column"]) == (rel, 6, 12)
    assert "'2027-13-01' is not a calendar date" in bad["message"]
    # SF401 still judges the flag whose date is real.
    assert [f["flag"] for f in doc["findings"] if f["code"] == "SF401"] == ["billing.old"]


# --- SF401 and SF404 over any value --------------------------------------------

@pytest.fixture(scope="module")
def head(tmp_path_factory: pytest.TempPathFactory) -> CompileResult:
    repo = FlagRepo(tmp_path_factory.mktemp("literals"))
    repo.write("billing.dated", bool_flag("expires: '2026-01-31', fully_rolled_out_since: '2026-01-01',"))
    result = repo.compile(jobs=1)
    assert not result.errors, [e.format() for e in result.errors]
    return result


@given(st.one_of(st.sampled_from(BAD_DATES), st.text(max_size=12), st.dates().map(date.isoformat)))
def test_hygiene_validators_never_raise_on_a_date(head: CompileResult, text: str) -> None:
    """Specs from elsewhere (a base revision, a hand-made bundle) may hold anything."""
    spec = head.specs["billing.dated"]
    spec.expires = spec.fully_rolled_out_since = text
    today = date(2027, 1, 1)
    ctx = Context(head, today=today)
    expired = [f for f in Expiry().check(ctx) if f.flag == "billing.dated" and "expired" in f.message]
    stale = list(StaleRollout(StaleRollout.Options.model_validate({"max_days": 30})).check(ctx))
    try:
        real: date | None = date.fromisoformat(text) if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text) else None
    except ValueError:
        real = None
    assert bool(expired) == (real is not None and real < today)
    assert bool(stale) == (real is not None and (today - real).days > 30)
