"""The health gate after a publish: watch a channel's served version for a bake time
and roll it back when a health check keeps failing.

The rollback is the store's own (`BundleStore.rollback`, what `safeflags rollback`
runs), conditioned on the channel still serving the watched version in the same
compare-and-swap: a version someone published during the bake is never the one
rolled back, and the pointer either moves once or not at all.

Checks run at `interval`, 2 x `interval`, ... up to the end of the bake: the first
one after one interval, because a version needs that long to reach the services
(clients poll). The clock and the sleep are parameters so a test runs a whole
bake without waiting on wall time.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

from safeflags.store import BundleStore, Pointer
from safeflags.store.layout import StateSigner

DEFAULT_FAILURES = 2
DEFAULT_TIMEOUT = 10.0
TAIL_LINES = 10
TAIL_CHARS = 800


@dataclass(frozen=True)
class CheckResult:
    healthy: bool
    summary: str  # one line: "exit 0", "HTTP 500", "timed out after 10s"
    output: str = ""  # the tail of what the check printed or answered


Check = Callable[[], CheckResult]


def tail(text: str, lines: int = TAIL_LINES, chars: int = TAIL_CHARS) -> str:
    """The end of a check's output: what an audit entry and a log line can hold."""
    last = "\n".join(text.rstrip().splitlines()[-lines:])
    return last if len(last) <= chars else "..." + last[-chars:]


def command_check(cmd: str, timeout: float = DEFAULT_TIMEOUT) -> Check:
    """A shell command, healthy when it exits 0 within `timeout` seconds."""

    def run() -> CheckResult:
        try:
            # Its own process group, so a timeout kills the shell's children too.
            proc = subprocess.Popen(cmd, shell=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:
            return CheckResult(False, f"could not start: {exc}")
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
            return CheckResult(False, f"timed out after {timeout:g}s", tail(out.decode(errors="replace")))
        return CheckResult(proc.returncode == 0, f"exit {proc.returncode}", tail(out.decode(errors="replace")))

    return run


def url_check(url: str, timeout: float = DEFAULT_TIMEOUT) -> Check:
    """An HTTP(S) GET, healthy on a 2xx answer within `timeout` seconds (redirects followed)."""

    def run() -> CheckResult:
        request = urllib.request.Request(url, headers={"User-Agent": "safeflags-watch"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:
                body = resp.read(64 * 1024)
                return CheckResult(200 <= resp.status < 300, f"HTTP {resp.status}",
                                   tail(body.decode(errors="replace")))
        except urllib.error.HTTPError as exc:
            body = exc.read(64 * 1024) if exc.fp is not None else b""
            return CheckResult(False, f"HTTP {exc.code}", tail(body.decode(errors="replace")))
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            return CheckResult(False, f"unreachable: {reason}")

    return run


def parse_check(text: str, timeout: float = DEFAULT_TIMEOUT) -> Check:
    """`http://...` or `https://...` is a URL check; anything else a shell command."""
    if text.startswith(("http://", "https://")):
        return url_check(text, timeout)
    return command_check(text, timeout)


@dataclass(frozen=True)
class Plan:
    bake: float  # seconds
    interval: float  # seconds between checks
    failures: int = DEFAULT_FAILURES  # consecutive failing checks that roll back

    def __post_init__(self) -> None:
        if self.bake <= 0 or self.interval <= 0:
            raise ValueError("the bake and the interval must be longer than 0")
        if self.interval > self.bake:
            raise ValueError(f"the interval ({self.interval:g}s) is longer than the bake ({self.bake:g}s): "
                             "no check would run")
        if self.failures < 1:
            raise ValueError("--failures must be at least 1")
        if self.failures > self.checks:
            raise ValueError(f"{self.failures} consecutive failures can never happen in a bake of "
                             f"{self.checks} check(s): lower --failures or lengthen the bake")

    @property
    def checks(self) -> int:
        """How many checks a whole bake runs (if none outlasts its slot)."""
        return int(self.bake // self.interval)


@dataclass(frozen=True)
class Run:
    number: int
    at: float  # seconds since the bake started
    result: CheckResult


@dataclass
class BakeOutcome:
    watched: Pointer
    runs: list[Run] = field(default_factory=list)
    rolled_back: Pointer | None = None  # what the channel serves after the rollback
    reason: str = ""  # what the audit entry says

    @property
    def failed(self) -> int:
        return sum(1 for r in self.runs if not r.result.healthy)


def describe(check_text: str, failing: list[Run]) -> str:
    """Why the channel was rolled back: the check, how often it failed in a row, the last output's tail."""
    last = failing[-1].result
    why = f"health check {check_text!r} failed {len(failing)} time(s) in a row, last: {last.summary}"
    return why + (f"; output: {last.output}" if last.output else "")


def watch(st: BundleStore, channel: str, check: Check, plan: Plan, *, check_text: str,
          signer: StateSigner | None = None, clock: Callable[[], float] = time.monotonic,
          sleep: Callable[[float], None] = time.sleep, on_run: Callable[[Run], None] | None = None,
          watched: Pointer | None = None) -> BakeOutcome:
    """Bake the version `channel` serves now (or `watched`, read before); roll it back after
    `plan.failures` consecutive failing checks. Store errors propagate with nothing changed."""
    outcome = BakeOutcome(watched if watched is not None else st.pointer(channel))
    start = clock()
    deadline = start + plan.bake
    due = start + plan.interval
    streak: list[Run] = []
    while due <= deadline:
        wait = due - clock()
        if wait > 0:
            sleep(wait)
        run = Run(len(outcome.runs) + 1, clock() - start, check())
        outcome.runs.append(run)
        if on_run is not None:
            on_run(run)
        streak = [] if run.result.healthy else [*streak, run]
        if len(streak) >= plan.failures:
            outcome.reason = describe(check_text, streak)
            outcome.rolled_back = st.rollback(channel, signer=signer, reason=outcome.reason,
                                              serving=outcome.watched.version)
            return outcome
        # A check that outlasted its slot is followed at once, not by a burst of the missed ones.
        due = max(due + plan.interval, clock())
    return outcome


def signing_needed(ptr: Pointer, signer: StateSigner | None) -> str:
    """Why a rollback without a key would not reach the clients ("" when it would)."""
    if signer is None and ptr.state is not None:
        return (f"channel {ptr.channel!r} has a signed state: clients refuse an unsigned rollback, "
                "so pass --sign-key (the key `safeflags publish` signs with)")
    return ""


__all__ = [
    "DEFAULT_FAILURES",
    "DEFAULT_TIMEOUT",
    "BakeOutcome",
    "Check",
    "CheckResult",
    "Plan",
    "Run",
    "command_check",
    "describe",
    "parse_check",
    "signing_needed",
    "tail",
    "url_check",
    "watch",
]
