"""`safeflags schedule` across a whole 3-stage ramp, with a fixed clock: the store's publish
times are chosen (its utc_now is patched) and every judgement is made at a given `now`."""
from __future__ import annotations

import json
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from safeflags.cli.main import cli
from safeflags.ops.schedule import (
    BLOCKED,
    DONE,
    DUE,
    WAITING,
    ScheduleError,
    Step,
    parse_bake,
    parse_now,
    schedule,
)
from safeflags.store import BundleStore, open_store
from tests.helpers.github_api import GitHubApi
from tests.helpers.repo import ROOT, FlagRepo, bool_flag

BAKE = timedelta(hours=24)
PLAN = "schedule=['2026-01-01T00:00:00Z', '2026-01-03T00:00:00Z']"


def ramped(stage: int, extra: str = "") -> str:
    return bool_flag(f"{extra}\nrollout: sf.ramps.custom([1, 10, 100], unit='workspace_id', stage={stage}, {PLAN}),")


class Ramp:
    """A flag repository and a file store whose publishes happen at the times a test names."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.repo = FlagRepo(root / "repo")
        self.store: BundleStore = open_store(f"file://{root / 'store'}", create=True)
        self.monkeypatch = monkeypatch
        self.repo.write("team.plain", bool_flag())
        self.repo.write("team.off", ramped(1, "enabled: false,"))
        self.set_stage(0)

    def set_stage(self, stage: int) -> None:
        self.repo.write("team.ramp", ramped(stage))

    def publish(self, at: str) -> None:
        result = self.repo.compile()
        assert not result.errors, result.errors
        self.monkeypatch.setattr("safeflags.store.store.utc_now", lambda: at)
        self.store.publish(result.data, "prod", source_revision=at)

    def steps(self, now: str, *, with_store: bool = True) -> dict[str, Step]:
        result = self.repo.compile()
        found = schedule(result.specs.values(), now=parse_now(now), bake=BAKE,
                         store=self.store if with_store else None, channel="prod")
        return {s.key: s for s in found}

    def step(self, now: str) -> Step:
        return self.steps(now)["team.ramp"]


@pytest.fixture
def ramp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Ramp:
    return Ramp(tmp_path, monkeypatch)


def judged(step: Step) -> tuple[str, int, int, str]:
    return step.status, step.from_stage, step.to_stage, step.until or step.reason


def test_a_whole_ramp_waits_then_comes_due_stage_by_stage(ramp: Ramp) -> None:
    ramp.publish("2025-12-31T00:00:00Z")
    # 0 -> 1: no bake for the first stage, only its planned start
    assert judged(ramp.step("2025-12-31T12:00:00Z")) == (WAITING, 0, 1, "2026-01-01T00:00:00Z")
    assert judged(ramp.step("2026-01-01T00:00:00Z")) == (DUE, 0, 1, "")

    ramp.set_stage(1)  # merged, not yet published: stage 1 has not reached the services
    before = ramp.step("2026-01-01T01:00:00Z")
    assert before.status == BLOCKED and "stage 1 has not reached the services" in before.reason
    ramp.publish("2026-01-01T06:00:00Z")
    ramp.publish("2026-01-02T12:00:00Z")  # a later version serving the same stage does not restart the bake
    # 1 -> 2: the bake ends 2026-01-02T06:00, the planned start later, which wins
    step = ramp.step("2026-01-02T00:00:00Z")
    assert judged(step) == (WAITING, 1, 2, "2026-01-03T00:00:00Z")
    assert (step.reached, step.not_before, step.stage_name) == ("2026-01-01T06:00:00Z", "2026-01-03T00:00:00Z", "10%")
    assert judged(ramp.step("2026-01-03T00:00:00Z")) == (DUE, 1, 2, "")

    ramp.set_stage(2)
    ramp.publish("2026-01-04T00:00:00Z")
    # 2 -> 3: no planned start, so the bake alone decides
    assert judged(ramp.step("2026-01-04T12:00:00Z")) == (WAITING, 2, 3, "2026-01-05T00:00:00Z")
    assert judged(ramp.step("2026-01-04T23:59:59Z"))[0] == WAITING
    assert judged(ramp.step("2026-01-05T00:00:00Z")) == (DUE, 2, 3, "")

    ramp.set_stage(3)
    ramp.publish("2026-01-05T01:00:00Z")
    assert judged(ramp.step("2026-01-06T00:00:00Z")) == (DONE, 3, 3, "")


def test_a_ramp_taken_back_and_forward_bakes_from_the_later_publish(ramp: Ramp) -> None:
    ramp.set_stage(1)
    ramp.publish("2026-01-01T00:00:00Z")
    ramp.set_stage(0)
    ramp.publish("2026-01-01T01:00:00Z")
    ramp.set_stage(1)
    ramp.publish("2026-01-03T00:00:00Z")
    step = ramp.step("2026-01-03T12:00:00Z")
    assert (step.status, step.reached, step.until) == (WAITING, "2026-01-03T00:00:00Z", "2026-01-04T00:00:00Z")


def test_a_stage_with_its_own_bake_waits_that_long_not_the_default(ramp: Ramp) -> None:
    stages = "[1, sf.ramps.stage(10, bake='2h'), 100]"
    ramp.repo.write("team.ramp", bool_flag(f"rollout: sf.ramps.custom({stages}, unit='workspace_id', stage=1),"))
    ramp.publish("2026-01-01T00:00:00Z")
    # 1 -> 2: stage 2 bakes 2 h, not the 24 h given for every step
    assert judged(ramp.step("2026-01-01T01:59:59Z")) == (WAITING, 1, 2, "2026-01-01T02:00:00Z")
    assert judged(ramp.step("2026-01-01T02:00:00Z")) == (DUE, 1, 2, "")
    ramp.repo.write("team.ramp", bool_flag(f"rollout: sf.ramps.custom({stages}, unit='workspace_id', stage=2),"))
    ramp.publish("2026-01-01T03:00:00Z")
    # 2 -> 3: stage 3 has no bake of its own, so the default applies
    assert judged(ramp.step("2026-01-01T04:00:00Z")) == (WAITING, 2, 3, "2026-01-02T03:00:00Z")


def test_switched_off_flags_and_unknown_services_are_blocked(ramp: Ramp) -> None:
    ramp.set_stage(1)
    ramp.publish("2026-01-01T00:00:00Z")
    steps = ramp.steps("2026-02-01T00:00:00Z")
    assert sorted(steps) == ["team.off", "team.ramp"]  # a flag without a rollout is not listed
    assert steps["team.off"].status == BLOCKED and "switched off" in steps["team.off"].reason
    assert steps["team.ramp"].status == DUE
    alone = ramp.steps("2026-02-01T00:00:00Z", with_store=False)["team.ramp"]
    assert alone.status == BLOCKED and "no --store" in alone.reason
    ramp.set_stage(0)  # the first step needs no history: judged by its planned start alone
    assert ramp.steps("2026-02-01T00:00:00Z", with_store=False)["team.ramp"].status == DUE


def test_the_command_lists_the_steps(ramp: Ramp) -> None:
    ramp.set_stage(1)
    ramp.publish("2026-01-01T06:00:00Z")
    base = ["schedule", "--repo", str(ramp.repo.root), "--store", ramp.store.url,
            "--channel", "prod"]
    out = CliRunner().invoke(cli, [*base, "--now", "2026-01-02T00:00:00Z", "--json"])
    assert out.exit_code == 0, out.output
    rows = {r["key"]: r for r in json.loads(out.output)}
    assert (rows["team.ramp"]["status"], rows["team.ramp"]["until"]) == (WAITING, "2026-01-03T00:00:00Z")
    out = CliRunner().invoke(cli, [*base, "--now", "2026-01-03T00:00:00Z", "--bake", "48h"])
    assert out.exit_code == 0, out.output
    line = next(x for x in out.output.splitlines() if x.startswith("team.ramp"))
    assert "1 -> 2/3" in line and "until 2026-01-03T06:00:00Z" in line
    bad = CliRunner().invoke(cli, [*base, "--now", "yesterday"])
    assert bad.exit_code == 2 and "RFC 3339" in bad.output


def test_durations_and_times_are_checked() -> None:
    assert parse_bake("90m") == timedelta(minutes=90) and parse_bake("0") == timedelta(0)
    with pytest.raises(ScheduleError):
        parse_bake("1 day")
    with pytest.raises(ScheduleError):
        parse_now("2026-01-01T00:00:00")


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout.strip()


def test_pr_opens_one_pull_request_per_due_step_and_never_a_second(ramp: Ramp, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    root = ramp.repo.root
    ramp.set_stage(1)
    ramp.publish("2026-01-01T06:00:00Z")
    (root / ".gitignore").write_text(".safeflags-cache/\n")
    shutil.copytree(ROOT / "validators", root / "validators")  # the configuration validates with them
    shutil.copy(ROOT / "deployments.yaml", root / "deployments.yaml")
    _git(tmp_path, "init", "-q", "--bare", "-b", "main", "remote.git")
    for args in (("init", "-q", "-b", "main"), ("config", "user.email", "ci@example.com"),
                 ("config", "user.name", "ci"), ("add", "-A"), ("commit", "-q", "-m", "flags"),
                 ("remote", "add", "origin", str(tmp_path / "remote.git")), ("push", "-q", "origin", "main")):
        _git(root, *args)
    before = (root / "flags/team/ramp.jsonnet").read_bytes()
    args = ["schedule", "--repo", str(root), "--store", ramp.store.url, "--channel", "prod",
            "--now", "2026-01-03T00:00:00Z", "--pr"]
    with GitHubApi() as api:
        for name, value in (("GITHUB_TOKEN", api.token), ("GITHUB_API_URL", api.url),
                            ("GITHUB_REPOSITORY", api.repository)):
            monkeypatch.setenv(name, value)
        first = CliRunner().invoke(cli, args)
        assert first.exit_code == 0, first.output
        proposals = [x for x in first.output.splitlines() if x.startswith(("team.ramp:", "team.off:"))]
        assert proposals == ["team.ramp: opened https://github.com/acme/flags/pull/1 (safeflags/ramp-team.ramp-2)"]
        assert [(p.head_ref, p.base_ref) for p in api.pulls.values()] == [("safeflags/ramp-team.ramp-2", "main")]
        pushed = _git(tmp_path / "remote.git", "show", "safeflags/ramp-team.ramp-2:flags/team/ramp.jsonnet")
        assert "stage=2," in pushed and "stage=1," not in pushed
        assert (root / "flags/team/ramp.jsonnet").read_bytes() == before
        again = CliRunner().invoke(cli, args)
        assert again.exit_code == 0 and "skipped: branch safeflags/ramp-team.ramp-2 exists locally" in again.output
        _git(root, "update-ref", "-d", "refs/heads/safeflags/ramp-team.ramp-2")  # another runner opened it
        elsewhere = CliRunner().invoke(cli, args)
        assert elsewhere.exit_code == 0 and "exists on origin" in elsewhere.output, elsewhere.output
        assert len(api.pulls) == 1
