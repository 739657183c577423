"""One validation run: compile, pick the judging rules, run, return an Outcome.

In pull-request mode the validators and `safeflags.yaml` come from the base
revision: a pull request cannot weaken the checks that judge it. The head's
own `validation:` section is still parsed (a broken one is an error) and a
change to it, or to local validator code, is reported by SF308.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from safeflags.compiler import CompileResult, compile_repo
from safeflags.errors import SafeflagsError
from safeflags.source.cache import default_dir
from safeflags.validation import registry
from safeflags.validation.api import Context, PullRequest, Validator
from safeflags.validation.changes import pair
from safeflags.validation.gitrev import exported
from safeflags.validation.runner import Outcome, run
from safeflags.validation.settings import parse_settings, resolve_rules


@dataclass(frozen=True)
class Options:
    repo: Path
    base: str | None = None
    pull_request: PullRequest = PullRequest()
    code_root: Path | None = None
    today: date | None = None
    jobs: int | None = None


def judge(ctx: Context, judge_result: CompileResult) -> Outcome:
    """Load the validators and settings of `judge_result`'s repository and run them."""
    settings = parse_settings(judge_result.config)
    classes = registry.load(judge_result.config.root, settings.local_validators)
    rules = resolve_rules(judge_result.config, settings, classes)
    validators: list[Validator] = [cls(rules[cls.code].options) for cls in classes]
    return run(ctx, validators, rules)


def validate(opts: Options) -> Outcome:
    started = time.perf_counter()
    repo = opts.repo
    today = opts.today or date.today()
    code_root = opts.code_root or repo
    if opts.base is None:
        head = compile_repo(repo, jobs=opts.jobs)
        ctx = Context(head, None, [], opts.pull_request, code_root, today)
        outcome = judge(ctx, head)
    else:
        with exported(repo, opts.base) as rev:
            # Both compiles mostly wait on evaluator processes: overlap them.
            with ThreadPoolExecutor(max_workers=2) as pool:
                head_job = pool.submit(compile_repo, repo, jobs=opts.jobs)
                # The cache is content-addressed: the base shares the head's, so
                # flags the pull request did not touch are not evaluated twice.
                base_job = pool.submit(compile_repo, rev.root, revision=rev.commit, jobs=opts.jobs,
                                       cache_dir=default_dir(repo))
                head = head_job.result()
                try:
                    base = base_job.result()
                except SafeflagsError as exc:
                    raise SafeflagsError(f"the base revision {opts.base} ({rev.commit[:12]}) does not load: {exc}") from exc
            parse_settings(head.config)  # the head's own section must be valid too
            ctx = Context(head, base, pair(base, head), opts.pull_request, code_root, today)
            outcome = judge(ctx, base)
            outcome.base_ref, outcome.base_commit = opts.base, rev.commit
    outcome.seconds = time.perf_counter() - started
    return outcome
