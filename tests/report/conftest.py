"""One small pull request, validated for real, that every report test reads:

- `ns.ramp` moves two stages of a ramp at once (SF301, SF302) outside the
  eu-west-1 override, which holds it off there (a scope with no effect);
- `ns.tidy` only rewords its description (a change with no effect);
- `ns.hostile` ramps one stage, with a description and a suppression
  reason written to break Markdown, HTML and the annotation syntax;
- the repository's own validators: TEAM001 quotes the description, a share
  and the date (what moves from day to day) and links its own docs; SF901
  reports too but documents nowhere.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from safeflags.validation.runner import Outcome
from tests.report.pullrequest import PullRequestRepo

HEADER = "local sf = import 'safeflags.libsonnet';\n"
RAMP = "flags/ns/ramp.jsonnet"
HOSTILE_TEXT = ("Ship </details><img src=x onerror=alert(1)> | pipe `tick` @acme/admins $x$ *bold* "
                "[link](javascript:alert(1)) &amp; <script>alert(2)</script>\\nsecond line")
HOSTILE_REASON = "</details><img src=x onerror=alert(1)> | @acme/admins ``x`` ![i](https://x.test/i.png)\\nline two"
VALIDATION = """
validation:
  local_validators: [validators/team.py]
  help_url: https://docs.example.com/validators.md
"""
TEAM = '''
from __future__ import annotations

from collections.abc import Iterator

from safeflags.validation import Context, Finding
from safeflags.validation.api import Change, ChangeValidator
from safeflags.validation.finding import Severity


class TrafficNote(ChangeValidator):
    """Each changed flag says how much traffic it changes.

    **What it catches**: any change. **Why**: reviewers read it.
    **How to fix**: nothing to fix. **Example**: a ramp.
    """

    code = "TEAM001"
    name = "traffic-note"
    severity = Severity.WARNING
    help_uri = "https://wiki.example.com/flags/traffic-note"

    def check_change(self, change: Change, ctx: Context) -> Iterator[Finding]:
        spec = change.spec
        share = ctx.exposure(change).changed * 100
        yield self.at(spec, f"{spec.description}: {share:.1f}% of traffic changes, as of {ctx.today.isoformat()}",
                      ctx.field(spec, "description"), hint="tell <b>" + spec.owner + "</b> | @acme/oncall `now`\\nok")


class Reminder(ChangeValidator):
    """A team rule with no documentation page.

    **What it catches**: a changed ramp. **Why**: a reminder.
    **How to fix**: nothing. **Example**: a ramp.
    """

    code = "SF901"
    name = "team-reminder"
    severity = Severity.NOTICE

    def check_change(self, change: Change, ctx: Context) -> Iterator[Finding]:
        if change.spec.rollout.stages:
            # A line without a column: every report points at the same first character of it.
            yield self.at(change.spec, "a ramp moved", ctx.field(change.spec, "rollout")[0])
'''


def ramp(stage: int) -> str:
    return HEADER + f"""sf.bool {{
  owner: 'team-a',
  description: 'Route ranking requests through the new service.',
  expires: '2027-06-30',
  default: false,
  overrides: [
    sf.when(sf.dim.region.in_(['eu-west-1'])).serve(false),
  ],
  rollout: sf.ramps.standard(unit='workspace_id', stage={stage}),
}}
"""


def tidy(description: str) -> str:
    return HEADER + f"""sf.bool {{
  owner: 'team-b',
  description: '{description}',
  expires: '2027-06-30',
  default: false,
}}
"""


def hostile(description: str, stage: int) -> str:
    return HEADER + f"""sf.bool {{
  owner: 'team-a',
  description: '{description}',
  default: false,
  suppress: [{{code: 'SF401', reason: '{HOSTILE_REASON}'}}],
  rollout: sf.ramps.standard(unit='workspace_id', stage={stage}),
}}
"""


BASE = {
    RAMP: ramp(2),
    "flags/ns/tidy.jsonnet": tidy("Show the tidy layout of the settings page."),
    "flags/ns/hostile.jsonnet": hostile("Hostile text, before the change.", 1),
    "validators/team.py": TEAM,
}
HEAD = {
    RAMP: ramp(4),
    "flags/ns/tidy.jsonnet": tidy("Show the tidy layout of the account settings page."),
    "flags/ns/hostile.jsonnet": hostile(HOSTILE_TEXT, 2),
}


@pytest.fixture(scope="session")
def review_repo(tmp_path_factory: pytest.TempPathFactory) -> PullRequestRepo:
    repo = PullRequestRepo(tmp_path_factory.mktemp("review"), BASE, VALIDATION)
    repo.pull_request("review", HEAD)
    return repo


@pytest.fixture(scope="session")
def review(review_repo: PullRequestRepo) -> Outcome:
    return review_repo.validate()


@pytest.fixture(scope="session")
def review_root(review_repo: PullRequestRepo) -> Path:
    return review_repo.root
