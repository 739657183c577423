"""`safeflags enable`: switch a flag that `kill` switched off back on."""
from __future__ import annotations

from pathlib import Path

import click

from safeflags.cli._common import exits
from safeflags.cli._edit import edit_options, run_edit
from safeflags.ops.edit import plan_enable


@click.command("enable")
@click.argument("key")
@edit_options
@exits
def command(key: str, repo: Path, base: str, dry_run: bool, jobs: int | None) -> int:
    """Switch flag KEY back on: remove its `enabled: false` line (or set it to true).

    Its rules and ramp serve again from where they were, so the exposure
    printed is what re-enabling brings back. Validated against --base
    before anything is written; exits 0 when written, 1 when the result
    does not validate (nothing written), 2 when the flag is already enabled
    or `enabled` is computed.
    """
    return run_edit(repo, lambda result: plan_enable(result, key), base=base, dry_run=dry_run, jobs=jobs)
