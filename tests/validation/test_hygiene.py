"""SF401 and SF404 at their date boundaries, on one compiled repository.

`expires: D` is the last day the flag may live: on D it is not yet
expired, from D + 1 on it is. `fully_rolled_out_since: D` with `max_days: N`
is fine N days after D and stale from N + 1 days on. The case files
(tests/validation/cases/) show each rule far from its boundary; these
tests pin the day it flips.
"""
from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from safeflags.compile.driver import CompileResult
from safeflags.validation.api import Context, Validator
from safeflags.validation.builtin.hygiene import Expiry, StaleRollout
from safeflags.validation.finding import Finding
from tests.helpers.repo import FlagRepo

DAY = date(2026, 11, 22)
ONE = timedelta(days=1)


@pytest.fixture(scope="module")
def head(tmp_path_factory: pytest.TempPathFactory) -> CompileResult:
    repo = FlagRepo(tmp_path_factory.mktemp("hygiene"))
    repo.write("billing.expiring", f"""
    sf.bool {{
      owner: 'team-billing',
      description: 'A release flag that ends on a known day.',
      default: false,
      expires: '{DAY.isoformat()}',
    }}
    """)
    repo.write("billing.done", f"""
    sf.bool {{
      owner: 'team-billing',
      description: 'A release flag at 100 % for a while.',
      default: true,
      expires: '2099-01-01',
      fully_rolled_out_since: '{DAY.isoformat()}',
    }}
    """)
    result = repo.compile(jobs=1)
    assert not result.errors, [e.format() for e in result.errors]
    return result


def findings(head: CompileResult, validator: Validator, today: date) -> list[Finding]:
    return list(validator.check(Context(head, today=today)))


@pytest.mark.parametrize(("today", "expired"), [
    pytest.param(DAY - ONE, None, id="the-day-before"),
    pytest.param(DAY, None, id="the-day-itself"),  # its last day: not expired yet
    pytest.param(DAY + ONE, "1 day ago", id="the-day-after"),
    pytest.param(DAY + 2 * ONE, "2 days ago", id="two-days-after"),
])
def test_expiry_flips_the_day_after_the_date(head: CompileResult, today: date, expired: str | None) -> None:
    found = [f for f in findings(head, Expiry(), today) if f.flag == "billing.expiring"]
    if expired is None:
        assert found == []
        return
    (finding,) = found
    assert finding.code == "SF401" and finding.message.endswith(expired)
    assert f"expired on {DAY.isoformat()}" in finding.message
    assert (Path(finding.file).name, finding.line) == ("expiring.jsonnet", 6)  # the `expires:` literal


@pytest.mark.parametrize(("days", "stale"), [
    pytest.param(29, False, id="29-days"),
    pytest.param(30, False, id="30-days"),  # max_days itself: not stale yet
    pytest.param(31, True, id="31-days"),
])
def test_stale_rollout_flips_after_max_days(head: CompileResult, days: int, stale: bool) -> None:
    validator = StaleRollout(StaleRollout.Options.model_validate({"max_days": 30}))
    found = [f for f in findings(head, validator, DAY + days * ONE) if f.flag == "billing.done"]
    assert [f.message.startswith(f"fully rolled out for {days} days") for f in found] == ([True] if stale else [])
