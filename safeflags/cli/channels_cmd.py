"""`safeflags channels`: what every channel of a store serves."""
from __future__ import annotations

from dataclasses import asdict

import click

from safeflags.cli._common import EXIT_OK, exits
from safeflags.cli._store import echo_json, json_option, store, store_option, table


def run(store_url: str, as_json: bool = False) -> int:
    st = store(store_url)
    names = st.channels()
    if not names:
        st.backend.check()  # a missing store is an error, an empty one is not
    pointers = [st.pointer(n) for n in names]
    if as_json:
        echo_json([asdict(p) for p in pointers])
        return EXIT_OK
    if not pointers:
        click.echo(f"no channels in {st.url}")
        return EXIT_OK
    rows = [(p.channel, p.version, p.latest, "pinned" if p.pinned else "", p.source_revision or "-",
             p.published, p.digest[:19]) for p in pointers]
    click.echo(table(rows, ["CHANNEL", "VERSION", "LATEST", "PINNED", "REVISION", "PUBLISHED", "DIGEST"]))
    return EXIT_OK


@click.command("channels")
@store_option
@json_option
@exits
def command(store_url: str, as_json: bool) -> int:
    """List the channels of a store and the version each serves."""
    return run(store_url, as_json)
