"""`safeflags schedule`: the next step of every ramped flag: due, waiting (until when) or blocked (why).

`--json` prints a list, by key, of objects with: key, status ("due", "waiting",
"blocked", "done"), from_stage, to_stage, stages, stage_name (of to_stage),
until (RFC 3339, for waiting), reason (for blocked), not_before (of to_stage,
as written) and reached (RFC 3339: when from_stage reached the services, "" when unknown).

`--pr` then opens one pull request per due step (as `ramp KEY --next --pr`
would), skipping a step whose branch exists here or on the remote; it exits
1 when a due step does not validate (its pull request is not opened).
"""
from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import click

from safeflags.cli._common import EXIT_FINDINGS, EXIT_OK, exits
from safeflags.cli._store import echo_json, json_option, store, table
from safeflags.compile.driver import compile_repo
from safeflags.ops.schedule import Proposed, Step, open_due, parse_bake, parse_now, rfc3339, schedule


def _row(s: Step) -> tuple[object, ...]:
    step = f"{s.from_stage} -> {s.to_stage}/{s.stages}" if s.status != "done" else f"{s.to_stage}/{s.stages}"
    detail = f"until {s.until}" if s.until else s.reason or "-"
    return (s.key, step, s.stage_name, s.status, detail)


def _proposals(found: list[Proposed], *, err: bool) -> int:
    for p in found:
        click.echo(f"{p.key}: opened {p.pull_url} ({p.branch})" if p.pull_url else f"{p.key}: skipped: {p.skipped}",
                   err=err)
    return EXIT_FINDINGS if any(p.skipped == "the step does not validate" for p in found) else EXIT_OK


def run(repo: Path, store_url: str | None, channel: str | None, now_text: str | None, bake_text: str,
        as_json: bool = False, pr: bool = False, remote: str = "origin") -> int:
    now = parse_now(now_text) if now_text else datetime.now(UTC)
    bake = parse_bake(bake_text)
    compiled = compile_repo(repo)
    if compiled.errors:
        click.echo(f"warning: {len(compiled.errors)} flag file(s) did not compile and are not listed", err=True)
    steps = schedule(compiled.specs.values(), now=now, bake=bake,
                     store=store(store_url) if store_url else None, channel=channel)
    if as_json:
        echo_json([asdict(s) for s in steps])
    elif not steps:
        click.echo("no flag has a rollout")
    else:
        click.echo(f"next steps at {rfc3339(now)} (bake {bake_text}):")
        click.echo(table([_row(s) for s in steps], ["FLAG", "STEP", "STAGE", "STATUS", "DETAIL"]))
    if not pr:
        return EXIT_OK
    # With --json the proposals go to stderr: stdout stays one JSON document.
    return _proposals(open_due(repo, steps, compiled, remote=remote), err=as_json)


@click.command("schedule")
@click.option("--repo", type=click.Path(file_okay=False, exists=True, path_type=Path), default=".",
              show_default=True, help="The flag repository (holds safeflags.yaml).")
@click.option("--store", "store_url", envvar="SAFEFLAGS_STORE", default=None, metavar="URL",
              help="The bundle store whose channel history says when a stage reached the services. "
                   "Without it, only a flag's first step can be due. [env: SAFEFLAGS_STORE]")
@click.option("--channel", envvar="SAFEFLAGS_CHANNEL", default=None, metavar="NAME",
              help="The channel, e.g. prod (with --store). [env: SAFEFLAGS_CHANNEL]")
@click.option("--now", "now_text", default=None, metavar="RFC3339", help="Judge at this time instead of now.")
@click.option("--bake", "bake_text", default="24h", show_default=True, metavar="DURATION",
              help="Minimum time after a stage reached the services before the next may start, for a stage "
                   "without a `bake` of its own.")
@json_option
@click.option("--pr", "pr", is_flag=True,
              help="Open one pull request per due step, as `ramp KEY --next --pr` does (GITHUB_TOKEN; "
                   "GITHUB_API_URL; GITHUB_REPOSITORY or the remote's URL); a step whose branch exists is skipped.")
@click.option("--remote", default="origin", show_default=True, help="The git remote --pr pushes to.")
@exits
def command(repo: Path, store_url: str | None, channel: str | None, now_text: str | None, bake_text: str,
            as_json: bool, pr: bool, remote: str) -> int:
    """List, for every flag with a rollout, whether its next stage is due, waiting (until when)
    or blocked (why): its earliest start (`not_before`) and the bake after the previous stage
    reached the services."""
    return run(repo, store_url, channel, now_text, bake_text, as_json, pr, remote)
