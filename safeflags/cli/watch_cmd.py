"""`safeflags watch`: the health gate after `publish`: bake, check, roll back on failure."""
from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import click

from safeflags.cli._common import EXIT_FINDINGS, EXIT_OK, exits
from safeflags.cli._signing import Duration, echo_state, expires_in_option, sign_key_option, signer
from safeflags.cli._store import channel_option, pointer_line, store, store_option
from safeflags.ops.watch import DEFAULT_FAILURES, DEFAULT_TIMEOUT, Plan, Run, parse_check, signing_needed, watch

DEFAULT_INTERVAL = 30.0


class Span(Duration):
    """A duration as `Duration` reads it, for a bake, an interval or a timeout."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        # Duration's own message for zero speaks of signatures.
        if isinstance(value, str) and re.fullmatch(r"\s*0+[wdhms]?(0+[wdhms])*\s*", value.lower()):
            self.fail(f"{value!r}: must be longer than 0", param, ctx)
        seconds: float = super().convert(value, param, ctx)
        return seconds


def span(seconds: float) -> str:
    """600 -> "10m", 90 -> "1m30s": how the options spell it."""
    rest, out = int(seconds), ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if rest >= size:
            out += f"{rest // size}{unit}"
            rest %= size
    return out + (f"{rest}s" if rest or not out else "")


def run(store_url: str, channel: str, check: str, bake: float, *, interval: float | None = None,
        failures: int = DEFAULT_FAILURES, timeout: float = DEFAULT_TIMEOUT, sign_key: str | None = None,
        expires_in: float | None = None, clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep) -> int:
    try:
        plan = Plan(bake, min(DEFAULT_INTERVAL, bake) if interval is None else interval, failures)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if store_url.startswith(("http://", "https://")):
        # Found out at the end of a failing bake, this would leave the bad version served.
        raise click.UsageError(f"{store_url} is read-only: watch the writable store it serves "
                               "(file:// or s3://), so a failing check can roll the channel back")
    sign = signer(sign_key, expires_in)  # a bad key fails now, not when the rollback needs it
    st = store(store_url)
    watched = st.pointer(channel)
    refusal = signing_needed(watched, sign)
    if refusal:
        raise click.UsageError(refusal)
    click.echo(pointer_line("watching", watched, st.url))
    click.echo(f"bake {span(plan.bake)}: {plan.checks} check(s), one every {span(plan.interval)}; "
               f"{plan.failures} failing in a row roll the channel back")

    def report(r: Run) -> None:
        state = "healthy" if r.result.healthy else "FAILED"
        last = r.result.output.splitlines()[-1] if r.result.output and not r.result.healthy else ""
        click.echo(f"check {r.number}/{plan.checks} at {span(r.at)}: {state} ({r.result.summary})"
                   + (f": {last}" if last else ""))

    outcome = watch(st, channel, parse_check(check, timeout), plan, check_text=check, signer=sign,
                    clock=clock, sleep=sleep, on_run=report, watched=watched)
    if outcome.rolled_back is not None:
        ptr = outcome.rolled_back
        click.echo(f"rolled back channel {channel!r} from version {watched.version} to version {ptr.version}: "
                   f"{outcome.reason}")
        click.echo(pointer_line("now", ptr, st.url))
        click.echo("the channel is pinned: revert the change, publish it with --force, or `safeflags unpin`")
        echo_state(ptr)
        return EXIT_FINDINGS
    failed = outcome.failed
    click.echo(f"bake passed: version {watched.version} of {channel!r} was healthy in "
               f"{len(outcome.runs) - failed} of {len(outcome.runs)} check(s) over {span(plan.bake)}"
               + (f" ({failed} failed, never {plan.failures} in a row)" if failed else ""))
    return EXIT_OK


@click.command("watch")
@store_option
@channel_option
@click.option("--check", "check", required=True, metavar="CMD|URL",
              help="What decides health: an http(s):// URL (healthy on a 2xx answer to a GET) or a shell "
                   "command (healthy when it exits 0).")
@click.option("--bake", type=Span(), required=True, metavar="DURATION",
              help="How long to watch the version, e.g. 10m or 1h.")
@click.option("--interval", type=Span(), default=None, metavar="DURATION",
              help=f"Time between checks; the first runs one interval after the start "
                   f"[default: {span(DEFAULT_INTERVAL)}, or the bake if shorter].")
@click.option("--failures", type=click.IntRange(min=1), default=DEFAULT_FAILURES, show_default=True, metavar="N",
              help="Consecutive failing checks that roll the channel back.")
@click.option("--timeout", type=Span(), default=DEFAULT_TIMEOUT, metavar="DURATION",
              help=f"How long one check may take before it counts as failed [default: {span(DEFAULT_TIMEOUT)}].")
@sign_key_option()
@expires_in_option
@exits
def command(store_url: str, channel: str, check: str, bake: float, interval: float | None, failures: int,
            timeout: float, sign_key: str | None, expires_in: float | None) -> int:
    """Watch the version a channel serves for a bake time; roll it back if its health check fails.

    Run it after `safeflags publish`. After --failures consecutive failing
    checks it pins the previous version (as `safeflags rollback` does, and
    only if the channel still serves the watched version), records who and
    why in the channel's audit trail, and exits 1 so the workflow can open a
    revert pull request. A clean bake exits 0; a store error exits 2 with
    the channel unchanged.
    """
    return run(store_url, channel, check, bake, interval=interval, failures=failures, timeout=timeout,
               sign_key=sign_key, expires_in=expires_in)
