"""Scheduled flips: for every flag with a rollout, whether its next stage is due.

A step from stage N to N+1 is due when both clocks have run out:
  - the next stage's earliest start, `not_before` (the templates' `schedule=`
    sets it per stage, aligned with the stages), when it has one;
  - the bake: a minimum time after stage N reached the services: the next
    stage's own `bake` (the templates' `bake=`) when it has one, else the one
    given for every step (`bake`, `--bake`). The first step (0 -> 1) has no
    previous stage and no bake.

Stage N reached the services when a published version of the channel first
served it: its compiled rules carry the label "rollout stage N/M". Only the
trailing run of versions that serve it counts, so a ramp taken back and
forward again bakes from the later publish; when the newest version does not
serve stage N, it has not reached the services and the step is blocked. A
pinned channel is judged by its history, not by the pinned version.

With pull requests asked for (`open_due`), each due step is ramped, validated
and proposed on its own branch (safeflags.ops.propose, the branch `ramp --pr`
names): a step whose branch already exists, here or on the remote, already
has its pull request (or had one) and is skipped, so a cron may run it again.

Without a store nothing is known about the services: a step after stage 1 or
later is blocked for that reason, and the first step is judged by
`not_before` alone.
"""
from __future__ import annotations

import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from safeflags.compile.driver import CompileResult
from safeflags.ops.apply import apply
from safeflags.ops.edit import plan_ramp
from safeflags.ops.flips import BundleReader
from safeflags.ops.propose import check, default_branch, propose
from safeflags.ops.times import parse_duration, parse_time
from safeflags.sdk.kernel import timestamps
from safeflags.sdk.kernel.errors import SafeflagsError
from safeflags.store import BundleStore
from safeflags.store.layout import Record
from safeflags.v1 import spec_pb2

DUE, WAITING, BLOCKED, DONE = "due", "waiting", "blocked", "done"


class ScheduleError(SafeflagsError):
    """A schedule query that cannot be answered as asked (bad --now, bad --bake, a stage's bad bake)."""


@dataclass(frozen=True)
class Step:
    """The next step of one flag. `status` is due, waiting (until `until`), blocked (`reason`)
    or done (at its last stage; `to_stage` is then the last stage). Times are RFC 3339 UTC or ""."""

    key: str
    status: str
    from_stage: int
    to_stage: int
    stages: int
    stage_name: str
    until: str = ""
    reason: str = ""
    not_before: str = ""
    reached: str = ""  # when `from_stage` reached the services


def parse_bake(text: str) -> timedelta:
    """`90s`, `30m`, `24h`, `7d`, or `0`."""
    if text.strip() == "0":
        return timedelta(0)
    span = parse_duration(text)
    if span is None:
        raise ScheduleError(f"bake {text!r} is not a duration (30m, 24h, 7d, 0)")
    return span


def parse_now(text: str) -> datetime:
    """An RFC 3339 time with an offset, as an aware UTC datetime."""
    try:
        return parse_time(text)
    except ValueError as exc:
        raise ScheduleError(f"--now {text!r} {exc}") from None


def rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _at(text: str) -> datetime | None:
    epoch = timestamps.to_epoch(text) if text else None
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def _label(stage: int, stages: int) -> str:
    return f"rollout stage {stage}/{stages}"


def reached_times(store: BundleStore, channel: str, flags: dict[str, tuple[int, int]],
                  reader: BundleReader | None = None) -> dict[str, datetime | None]:
    """For each key -> (stage, stages): when the trailing run of published versions serving
    that stage began (None when the newest version does not serve it, or has no time)."""
    reader = reader or BundleReader(store)
    records: list[Record] = [r for r in store.history(channel) if not r.abandoned]
    out: dict[str, datetime | None] = dict.fromkeys(flags)
    open_keys = set(flags)
    for rec in reversed(records):
        if not open_keys:
            break
        bundle = reader.get(rec.digest)
        index = {k: i for i, k in enumerate(bundle.keys) if k in open_keys}
        for key in list(open_keys):
            stage, stages = flags[key]
            i = index.get(key)
            label = _label(stage, stages)
            serves = i is not None and any(
                r.label == label or r.label.startswith(label + " ") for r in bundle.flag(i).rules)
            if serves:
                out[key] = _at(rec.published)
            else:
                open_keys.discard(key)
    return out


def _judge(key: str, spec: spec_pb2.FlagSpec, now: datetime, bake: timedelta, has_store: bool,
           reached: datetime | None) -> Step:
    ro = spec.rollout
    n, cur = len(ro.stages), ro.stage
    if cur >= n:
        return Step(key, DONE, cur, cur, n, ro.stages[n - 1].name)
    nxt = ro.stages[cur]
    base = Step(key, BLOCKED, cur, cur + 1, n, nxt.name, not_before=nxt.not_before,
                reached=rfc3339(reached) if reached else "")
    if not spec.enabled:
        return replace(base, reason="the flag is switched off (enabled: false)")
    start = _at(nxt.not_before)
    waits = [start] if start is not None else []
    if cur > 0:
        if not has_store:
            return replace(base, reason=f"no --store: unknown when stage {cur} reached the services")
        if reached is None:
            return replace(base, reason=f"stage {cur} has not reached the services "
                                      f"(the newest published version does not serve it)")
        # The compiler checked the stage's bake, but a spec may come from elsewhere: name the flag.
        try:
            own = parse_bake(nxt.bake) if nxt.bake else bake
        except ScheduleError as err:
            raise ScheduleError(f"{key}: stage {cur + 1}: {err}") from None
        waits.append(reached + own)
    until = max(waits, default=None)
    if until is not None and until > now:
        return replace(base, status=WAITING, until=rfc3339(until), reason="")
    return replace(base, status=DUE, reason="")


def schedule(specs: Iterable[spec_pb2.FlagSpec], *, now: datetime, bake: timedelta,
             store: BundleStore | None = None, channel: str | None = None) -> list[Step]:
    """The next step of every flag in `specs` with a rollout, sorted by key."""
    ramped = sorted((s for s in specs if s.HasField("rollout")), key=lambda s: s.key)
    reached: dict[str, datetime | None] = {}
    if store is not None:
        if not channel:
            raise ScheduleError("--store needs --channel")
        live = {s.key: (s.rollout.stage, len(s.rollout.stages)) for s in ramped
                if 0 < s.rollout.stage < len(s.rollout.stages)}
        reached = reached_times(store, channel, live)
    return [_judge(s.key, s, now, bake, store is not None, reached.get(s.key)) for s in ramped]


def summary(steps: Sequence[Step]) -> dict[str, int]:
    out = dict.fromkeys((DUE, WAITING, BLOCKED, DONE), 0)
    for s in steps:
        out[s.status] += 1
    return out


@dataclass(frozen=True)
class Proposed:
    """What `open_due` did for one due step: opened `pull_url` on `branch`, or `skipped` (why)."""

    key: str
    branch: str
    pull_url: str = ""
    skipped: str = ""


def _has_branch(repo: Path, branch: str, remote: str) -> str:
    """Where `branch` already exists ("" when nowhere): its pull request is open or was."""
    local = subprocess.run(["git", "-C", str(repo), "show-ref", "--verify", "-q", f"refs/heads/{branch}"],
                           capture_output=True, check=False)
    if local.returncode == 0:
        return "locally"
    # The push URL: the one that carries credentials in CI (a checkout may keep none for fetching).
    url = subprocess.run(["git", "-C", str(repo), "remote", "get-url", "--push", remote],
                         capture_output=True, text=True, check=False).stdout.strip()
    if not url:
        raise ScheduleError(f"no git remote {remote!r} to look for branches on (--remote)")
    found = subprocess.run(["git", "-C", str(repo), "ls-remote", "--exit-code", "--heads", url,
                            f"refs/heads/{branch}"], capture_output=True, text=True, check=False)
    if found.returncode == 0:
        return f"on {remote}"
    if found.returncode != 2:  # 2: reached the remote, no such branch
        detail = found.stderr.replace(url, remote).strip()  # the URL may hold a token
        raise ScheduleError(f"git ls-remote {remote} failed: {detail}")
    return ""


def open_due(repo: Path, steps: Sequence[Step], current: CompileResult, *, remote: str = "origin",
             base: str = "HEAD", jobs: int | None = None) -> list[Proposed]:
    """One pull request per due step of `steps` (planned on `current`, the compile of `repo`);
    the work tree is left as it was."""
    out = []
    for step in steps:
        if step.status != DUE:
            continue
        edit = plan_ramp(current, step.key, to=step.to_stage)
        branch = default_branch(edit)
        where = _has_branch(repo, branch, remote)
        if where:
            out.append(Proposed(step.key, branch, skipped=f"branch {branch} exists {where}"))
            continue
        check(repo, edit.file, branch, remote=remote)
        applied = apply(repo, edit, planned_on=current, base=base, jobs=jobs)
        if not applied.written:
            out.append(Proposed(step.key, branch, skipped="the step does not validate"))
            continue
        proposal = propose(repo, applied, branch, pull=True, remote=remote)
        out.append(Proposed(step.key, branch, pull_url=proposal.pull_url or ""))
    return out
