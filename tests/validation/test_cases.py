"""Every validator's case file, run by one parametrised test (see harness.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

from safeflags.validation import registry
from tests.validation.harness import Case, Suite, load_cases

CASES = load_cases()


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Suite:
    return Suite(tmp_path_factory.mktemp("cases"), CASES)


def test_every_validator_has_a_case_file_with_passing_and_failing_cases() -> None:
    codes = {cls.code for cls in registry.load(Path("."))}
    with_cases = {c.code for c in CASES}
    assert codes - with_cases == set(), "validators without a case file"
    for code in codes:
        mine = [c for c in CASES if c.code == code]
        assert any(c.expect for c in mine) and any(not c.expect for c in mine), (
            f"{code} needs passing and failing cases")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(suite: Suite, case: Case) -> None:
    found = suite.run(case)
    names = [n for n in [*case.head, *(case.base or {})] if "/" not in n]
    default_file = f"flags/{case.ns}/{names[0] if names else ''}.jsonnet"
    got = [(f.file, f.line) for f in found]
    want = [(e.get("file", default_file).replace("{ns}", case.ns), e["line"]) for e in case.expect]
    assert got == want, (
        "\n".join(f"{f.location()}: {f.severity.value} {f.code} {f.message}" for f in found) or "no findings")
    # Equal lengths: got and want, just asserted equal, are built one per finding and one per expectation.
    for f, e in zip(found, case.expect, strict=True):
        if "message" in e:
            assert e["message"] in f.message
        if "severity" in e:
            assert f.severity.value == e["severity"]
