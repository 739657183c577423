"""`safeflags ramp`: move a flag's rollout one stage, by editing its `stage` literal."""
from __future__ import annotations

from pathlib import Path

import click

from safeflags.cli._common import exits
from safeflags.cli._edit import edit_options, run_edit
from safeflags.ops.edit import EditRefused, plan_ramp


@click.command("ramp")
@click.argument("key")
@click.option("--next", "step", flag_value="next", help="Move to the next stage.")
@click.option("--back", "step", flag_value="back", help="Move back one stage.")
@click.option("--to", "to", type=click.IntRange(min=0), default=None, metavar="STAGE",
              help="Move to STAGE (1-based; 0 = not started). Skipping stages needs the approvals SF301 asks for.")
@edit_options
@exits
def command(key: str, step: str | None, to: int | None, repo: Path, base: str, dry_run: bool,
            jobs: int | None) -> int:
    """Ramp flag KEY: change the one `stage` number of its file.

    Comments and layout stay as written. The edited repository is compiled
    and validated against --base (as its pull request would be); the diff
    and the exposure before → after per scope are printed, and the file is
    written only when the result validates. Exits 0 when written (or on a
    clean --dry-run), 1 when the result does not validate (nothing written),
    2 when there is no such step or the stage is computed rather than
    written as a number (the message names the line to edit by hand).
    """
    if (step is None) == (to is None):
        raise EditRefused("give exactly one of --next, --back or --to STAGE")
    return run_edit(repo, lambda result: plan_ramp(result, key, step=step, to=to), base=base, dry_run=dry_run,
                    jobs=jobs)
