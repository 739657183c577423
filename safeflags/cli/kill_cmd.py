"""`safeflags kill`: engage a kill switch, or switch any other flag off as a whole."""
from __future__ import annotations

from pathlib import Path

import click

from safeflags.cli._common import exits
from safeflags.cli._edit import edit_options, run_edit
from safeflags.ops.edit import EditRefused, plan_kill


def _scope(value: str) -> tuple[str, str]:
    dim, sep, val = value.partition("=")
    if not sep or not dim or not val:
        raise EditRefused(f"--scope takes DIM=VALUE, e.g. region=eu-west-1; got {value!r}")
    return dim, val


@click.command("kill")
@click.argument("key")
@click.option("--scope", "scopes", multiple=True, metavar="DIM=VALUE",
              help="Only where a static dimension has this value (repeatable: values of one dimension are "
                   "alternatives, dimensions combine): adds one rule, first of the overrides.")
@edit_options
@exits
def command(key: str, scopes: tuple[str, ...], repo: Path, base: str, dry_run: bool, jobs: int | None) -> int:
    """Kill flag KEY in an incident.

    A kill switch (kind operational) is engaged: its `default` set to true.
    Any other flag is switched off as a whole (`enabled: false`): it serves
    its default, reason DISABLED, whatever its rules and ramp say (`safeflags
    enable` undoes it and the ramp resumes where it was). Only that literal
    changes, or one line is added when the file inherits the value. With
    --scope, one rule is added before the others instead: a kill switch
    serves true there, a bool flag its default (other types: refused). Validated
    against --base before anything is written; exits 0 when written, 1 when
    the result does not validate (nothing written), 2 when the value is
    computed or the flag is already off.
    """
    parsed = [_scope(s) for s in scopes]
    return run_edit(repo, lambda result: plan_kill(result, key, parsed), base=base, dry_run=dry_run, jobs=jobs)
