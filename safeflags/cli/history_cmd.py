"""`safeflags history`: every version published to a channel."""
from __future__ import annotations

from dataclasses import asdict

import click

from safeflags.cli._common import EXIT_OK, exits
from safeflags.cli._store import (
    channel_option,
    echo_json,
    json_option,
    store,
    store_option,
    table,
)


def run(store_url: str, channel: str, as_json: bool = False, last: int | None = None) -> int:
    st = store(store_url)
    ptr = st.pointer(channel)
    records = st.history(channel, last=last)
    events = st.events(channel)
    if as_json:
        echo_json({"pointer": asdict(ptr), "history": [asdict(r) for r in records],
                   "events": [asdict(e) for e in events]})
        return EXIT_OK
    rows = []
    for r in records:
        mark = ("serving, pinned" if ptr.pinned else "serving") if r.version == ptr.version else ""
        if r.abandoned:
            mark = "abandoned: its publish never finished"
        elif r.version > max(ptr.latest, ptr.abandoned):
            mark = "publishing: not applied yet"
        rows.append((r.version, r.published, r.source_revision or "-", r.digest[:19],
                     "yes" if r.signature else "no", "forced" if r.forced else "", mark))
    click.echo(table(rows, ["VERSION", "PUBLISHED", "REVISION", "DIGEST", "SIGNED", "", "STATE"]))
    if events:
        click.echo("")
        click.echo(table([(e.at, e.action, f"{e.from_version} -> {e.version}", e.by or "-") for e in events],
                         ["WHEN", "ACTION", "VERSION", "BY"]))
    return EXIT_OK


@click.command("history")
@store_option
@channel_option
@click.option("--last", type=click.IntRange(min=1), default=None, help="Only the last N versions.")
@json_option
@exits
def command(store_url: str, channel: str, last: int | None, as_json: bool) -> int:
    """Show the versions published to a channel, oldest first, then its pins,
    unpins and rollbacks."""
    return run(store_url, channel, as_json, last)
