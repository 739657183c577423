"""`safeflags pin`: hold a channel on one version; publish then needs --force."""
from __future__ import annotations

import click

from safeflags.cli._common import EXIT_OK, exits
from safeflags.cli._store import channel_option, pointer_line, store, store_option


def run(store_url: str, channel: str, version: int) -> int:
    st = store(store_url)
    click.echo(pointer_line("pinned", st.pin(channel, version), st.url))
    return EXIT_OK


@click.command("pin")
@store_option
@channel_option
@click.argument("version", type=click.IntRange(min=1))
@exits
def command(store_url: str, channel: str, version: int) -> int:
    """Serve VERSION on the channel until unpinned, whatever is published."""
    return run(store_url, channel, version)
