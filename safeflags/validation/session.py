"""One validation run: compile, pick the judging rules, run, return an Outcome.

In pull-request mode the validators and `safeflags.yaml` come from the base
revision: a pull request cannot weaken the checks that judge it. The head's
own `validation:` section is still parsed (a broken one is an error) and a
change to it, or to local validator code, is reported by SF308.

A pull request whose base has no `safeflags.yaml` (the one adopting
safeflags), or a first commit (no base at all), has nothing to be compared
with or judged by: the head is judged on its own, by its own settings, and
the outcome says so.

A head that does not compile fails the run whatever judges it: its compile
errors are findings of the runner itself, and a located error in the
settings or an inventory that stops the run is printed with them, never
instead of them.

Who approved is read from the GitHub API when a client is given (the pull
request's reviews, who applied its labels, its current head; team
membership as rules ask), while the head compiles. The approver groups come
from the judging settings, like every rule.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

from safeflags.compile.cache import default_dir
from safeflags.compile.driver import CompileResult, compile_repo
from safeflags.source.errors import ConfigError, read_line
from safeflags.validation import registry
from safeflags.validation.api import Context, PullRequest, Validator
from safeflags.validation.approvals import Approvals
from safeflags.validation.basecompile import compile_base, scan
from safeflags.validation.changes import affected, pair
from safeflags.validation.github import GitHub
from safeflags.validation.gitrev import Base, NoCommitYet, resolve
from safeflags.validation.runner import Outcome, run
from safeflags.validation.settings import parse_settings, resolve_rules


@dataclass(frozen=True)
class Options:
    repo: Path
    base: str | None = None
    pull_request: PullRequest = field(default_factory=PullRequest)
    code_root: Path | None = None
    today: date | None = None
    jobs: int | None = None
    # Pull-request mode: also report findings on flags the change did not touch.
    all_findings: bool = False
    # Reads reviews, label events and team membership; None: no token.
    github: GitHub | None = None


def judge(ctx: Context, judge_result: CompileResult) -> Outcome:
    """Load the validators and settings of `judge_result`'s repository and run them."""
    settings = parse_settings(judge_result.config)
    ctx.approvals = replace(ctx.approvals, groups=settings.approver_groups())
    classes = registry.load(judge_result.config.root, settings.local_validators)
    rules = resolve_rules(judge_result.config, settings, classes)
    validators: list[Validator] = [cls(rules[cls.code].options) for cls in classes]
    outcome = run(ctx, validators, rules)
    outcome.help_url = settings.help_url
    return outcome


@contextmanager
def _with_compile_errors(head: CompileResult) -> Iterator[None]:
    try:
        yield
    except ConfigError as exc:
        extra = [e for e in head.errors if e not in exc.errors]
        if not extra:
            raise
        # With their source lines, as `compile` prints them.
        root = head.config.root
        extra = [e if e.source_line or not e.line else replace(e, source_line=read_line(root / e.file, e.line))
                 for e in extra]
        raise ConfigError([*exc.errors, *extra]) from exc


def unread(opts: Options) -> str:
    """Why the pull request's approvals will not be read ("" when they will
    be, or the pull request carries them)."""
    pr = opts.pull_request
    if pr.reviews or pr.label_events is not None:
        return ""
    if opts.github is None:
        return "no GitHub token was given (--github-token or $GITHUB_TOKEN)"
    if not pr.number or not pr.repository:
        return "no pull request is known (--event with a pull request's payload)"
    return ""


def validate(opts: Options) -> Outcome:
    started = time.perf_counter()
    repo = opts.repo
    today = opts.today or date.today()
    code_root = opts.code_root or repo
    github, why = opts.github, unread(opts)
    rev: Base | None = None
    alone = ""
    if opts.base is not None:
        try:
            rev = resolve(repo, opts.base)
        except NoCommitYet:
            alone = "the base has no commit yet (the repository's first commit): judged the head on its own"
    with ThreadPoolExecutor(max_workers=2) as pool:
        # The API's and git's answers arrive while the head compiles.
        read = pool.submit(github.read, opts.pull_request) if github is not None and not why else None
        found = pool.submit(scan, repo, rev) if rev is not None else None
        head = compile_repo(repo, jobs=opts.jobs)
        diff = found.result() if found is not None else None
        pull_request = read.result() if read is not None else opts.pull_request
    approvals = Approvals(pull_request, membership=github.team_member if github is not None else None, unread=why)
    if rev is not None and diff is not None and not diff.config:
        alone = f"the base has no safeflags.yaml: judged the head on its own ({opts.base} at {rev.commit[:12]})"
    if rev is None or diff is None or alone:
        ctx = Context(head, None, [], pull_request, code_root, today, approvals=approvals)
        with _with_compile_errors(head):
            outcome = judge(ctx, head)
        outcome.judged_alone = alone
    else:
        # The base takes the head's results for the flags the pull request
        # left alone and compiles the rest, sharing the head's cache.
        with (
            _with_compile_errors(head),
            compile_base(repo, rev, head, diff, jobs=opts.jobs, cache_dir=default_dir(repo)) as bc,
        ):
            parse_settings(head.config)  # the head's own section must be valid too
            changes = pair(bc.result, head)
            # What the change introduces: its flags and their dependents; every
            # flag when safeflags.yaml changed (the catalog and owners judge all).
            scope = None if opts.all_findings or head.config.text != bc.result.config.text else affected(head, changes)
            ctx = Context(head, bc.result, changes, pull_request, code_root, today,
                          base_shared=bc.shared, scope=scope, approvals=approvals)
            outcome = judge(ctx, bc.result)
        outcome.base_ref, outcome.base_commit = opts.base, rev.commit
    outcome.seconds = time.perf_counter() - started
    return outcome
