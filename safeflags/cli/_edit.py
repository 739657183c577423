"""What `ramp`, `kill` and `enable` share: plan an edit on a fresh compile,
apply it (validated against the current revision), print the diff, the
exposure before → after per scope and, when it does not validate, the
findings."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from safeflags.cli._common import EXIT_FINDINGS, EXIT_OK
from safeflags.compile.driver import CompileResult, compile_repo
from safeflags.ops.apply import apply
from safeflags.ops.edit import Edit, EditRefused
from safeflags.ops.propose import check, default_branch, propose

F = TypeVar("F", bound=Callable[..., Any])


def _keep(ctx: click.Context, param: click.Parameter, value: object) -> object:
    # Kept aside so the commands' own signatures stay the same: run_edit reads them.
    ctx.meta[f"safeflags.edit.{param.name}"] = value
    return value


def edit_options(fn: F) -> F:
    """--repo, --base, --dry-run, --jobs, --branch, --pr and --remote, in that order on every edit command."""
    fn = click.option("--remote", default="origin", show_default=True, expose_value=False, callback=_keep,
                      help="The git remote --pr pushes the branch to.")(fn)
    fn = click.option("--pr", "pr", is_flag=True, expose_value=False, callback=_keep,
                      help="Also push the branch and open a pull request (GITHUB_TOKEN; GITHUB_API_URL; the "
                           "repository from GITHUB_REPOSITORY or the remote's URL) into the checked-out branch, "
                           "with the validation summary and the labels reviewers must give; none is applied. "
                           "Implies --branch safeflags/<command>-<key>[-<stage>].")(fn)
    fn = click.option("--branch", "branch", default=None, metavar="NAME", expose_value=False, callback=_keep,
                      help="Commit the edit, and only it, on a new branch NAME from HEAD. The checked-out branch, "
                           "index and work tree stay as they were: the edit lives on NAME only.")(fn)
    fn = click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
                      help="Evaluator processes [default: CPU count].")(fn)
    fn = click.option("--dry-run", is_flag=True,
                      help="Validate and print the diff and exposure, but write nothing.")(fn)
    fn = click.option("--base", default="HEAD", show_default=True, metavar="REF",
                      help="The revision the edit is judged against, as `validate --base` judges a pull request.")(fn)
    fn = click.option("--repo", type=click.Path(file_okay=False, exists=True, path_type=Path), default=".",
                      show_default=True, help="The flag repository (holds safeflags.yaml).")(fn)
    return fn


def run_edit(repo: Path, plan: Callable[[CompileResult], Edit], *, base: str, dry_run: bool,
             jobs: int | None) -> int:
    meta = click.get_current_context().meta
    branch, pr = meta.get("safeflags.edit.branch"), bool(meta.get("safeflags.edit.pr"))
    remote = str(meta.get("safeflags.edit.remote") or "origin")
    if (branch or pr) and dry_run:
        raise EditRefused("--dry-run writes nothing, so there is nothing to commit: drop --branch/--pr")
    current = compile_repo(repo, jobs=jobs)
    edit = plan(current)
    if branch or pr:
        # The branch name needs the edit (its key and target stage); checked before anything is written.
        branch = branch or default_branch(edit)
        check(repo, edit.file, branch, remote=remote if pr else None)
    applied = apply(repo, edit, planned_on=current, base=base, dry_run=dry_run, jobs=jobs)
    click.echo(applied.diff, nl=False)
    click.echo(f"{edit.step}\nexposure before → after:")
    for line in applied.exposure_lines():
        click.echo(line)
    if not applied.ok:
        click.echo(applied.report, nl=False, err=True)
        if applied.others:
            click.echo(f"safeflags: the edit also changes {', '.join(applied.others)}", err=True)
        click.echo(f"safeflags: the result does not validate: {edit.file} left unchanged", err=True)
        return EXIT_FINDINGS
    click.echo(f"dry run: {edit.file} left unchanged" if dry_run else f"wrote {edit.file}")
    if branch:
        proposal = propose(repo, applied, branch, pull=pr, remote=remote)
        click.echo(f"committed on branch {proposal.branch} ({proposal.commit[:12]}); {edit.file} put back as it was")
        if proposal.pull_url:
            click.echo(f"opened pull request {proposal.pull_url}")
    return EXIT_OK
