"""`safeflags gc`: delete bundles no channel needs any more."""
from __future__ import annotations

import click

from safeflags.cli._common import EXIT_OK, exits
from safeflags.cli._store import store, store_option


def run(store_url: str, keep: int, min_age: float, dry_run: bool) -> int:
    st = store(store_url)
    st.backend.check()
    report = st.gc(keep, min_age=min_age, dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    for digest in report.deleted:
        click.echo(f"{verb} {digest}")
    click.echo(f"{verb} {len(report.deleted)} bundle(s), kept {len(report.kept)} in {st.url}")
    if report.chunks:
        click.echo(f"{verb} {len(report.chunks)} chunk(s) no kept bundle's manifest lists")
    if report.swept:
        click.echo(f"removed {len(report.swept)} leftover(s) of interrupted writes: {', '.join(report.swept[:5])}"
                   + (", ..." if len(report.swept) > 5 else ""))
    return EXIT_OK


@click.command("gc")
@store_option
@click.option("--keep", type=click.IntRange(min=1), required=True,
              help="Versions to keep per channel, newest first.")
@click.option("--min-age", type=click.FloatRange(min=0), default=3600.0, show_default=True,
              help="Never delete a bundle younger than this many seconds (a publish may be in flight).")
@click.option("--dry-run", is_flag=True, help="Only say what would be deleted.")
@exits
def command(store_url: str, keep: int, min_age: float, dry_run: bool) -> int:
    """Delete old bundles. Never deletes a channel's current or pinned bundle,
    one of its last KEEP versions, a publish, pin or rollback in flight, or a
    recent bundle; safe to run while others publish. A deleted bundle's manifest
    goes with it, and so do the chunks (older than --min-age) that no kept
    bundle's manifest lists. Also removes temporary
    files that killed writes left, once they are an hour old."""
    return run(store_url, keep, min_age, dry_run)
