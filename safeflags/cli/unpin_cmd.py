"""`safeflags unpin`: let a channel follow its latest published version again."""
from __future__ import annotations

import click

from safeflags.cli._common import EXIT_OK, exits
from safeflags.cli._store import channel_option, pointer_line, store, store_option


def run(store_url: str, channel: str) -> int:
    st = store(store_url)
    click.echo(pointer_line("unpinned", st.unpin(channel), st.url))
    return EXIT_OK


@click.command("unpin")
@store_option
@channel_option
@exits
def command(store_url: str, channel: str) -> int:
    """Unpin the channel: it serves the latest published version again."""
    return run(store_url, channel)
