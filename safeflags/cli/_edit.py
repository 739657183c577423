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
from safeflags.ops.edit import Edit

F = TypeVar("F", bound=Callable[..., Any])


def edit_options(fn: F) -> F:
    """--repo, --base, --dry-run and --jobs, in that order on every edit command."""
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
    current = compile_repo(repo, jobs=jobs)
    edit = plan(current)
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
    return EXIT_OK
