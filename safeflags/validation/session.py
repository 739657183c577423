"""One validation run: compile, pick the judging rules, run, return an Outcome.

In pull-request mode the validators and `safeflags.yaml` come from the base
revision: a pull request cannot weaken the checks that judge it. The head's
own `validation:` section is still parsed (a broken one is an error) and a
change to it, or to local validator code, is reported by SF308.

A head that does not compile fails the run whatever judges it: its compile
errors are findings of the runner itself, and a located error in the
settings or an inventory that stops the run is printed with them, never
instead of them.
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
from safeflags.validation.basecompile import compile_base, scan
from safeflags.validation.changes import affected, pair
from safeflags.validation.gitrev import resolve
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


def judge(ctx: Context, judge_result: CompileResult) -> Outcome:
    """Load the validators and settings of `judge_result`'s repository and run them."""
    settings = parse_settings(judge_result.config)
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


def validate(opts: Options) -> Outcome:
    started = time.perf_counter()
    repo = opts.repo
    today = opts.today or date.today()
    code_root = opts.code_root or repo
    if opts.base is None:
        head = compile_repo(repo, jobs=opts.jobs)
        ctx = Context(head, None, [], opts.pull_request, code_root, today)
        with _with_compile_errors(head):
            outcome = judge(ctx, head)
    else:
        rev = resolve(repo, opts.base)
        with ThreadPoolExecutor(max_workers=1) as pool:
            found = pool.submit(scan, repo, rev)  # git's answers, while the head compiles
            head = compile_repo(repo, jobs=opts.jobs)
            diff = found.result()
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
            ctx = Context(head, bc.result, changes, opts.pull_request, code_root, today,
                          base_shared=bc.shared, scope=scope)
            outcome = judge(ctx, bc.result)
        outcome.base_ref, outcome.base_commit = opts.base, rev.commit
    outcome.seconds = time.perf_counter() - started
    return outcome
