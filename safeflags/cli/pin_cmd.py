"""`safeflags pin`: hold a channel on one version; publish then needs --force."""
from __future__ import annotations

import click

from safeflags.cli._common import EXIT_OK, exits
from safeflags.cli._signing import echo_state, expires_in_option, sign_key_option, signer
from safeflags.cli._store import channel_option, pointer_line, store, store_option


def run(store_url: str, channel: str, version: int, *, sign_key: str | None = None,
        expires_in: float | None = None) -> int:
    sign = signer(sign_key, expires_in)
    st = store(store_url)
    ptr = st.pin(channel, version, signer=sign)
    click.echo(pointer_line("pinned", ptr, st.url))
    echo_state(ptr)
    return EXIT_OK


@click.command("pin")
@store_option
@channel_option
@click.argument("version", type=click.IntRange(min=1))
@sign_key_option()
@expires_in_option
@exits
def command(store_url: str, channel: str, version: int, sign_key: str | None, expires_in: float | None) -> int:
    """Serve VERSION on the channel until unpinned, whatever is published."""
    return run(store_url, channel, version, sign_key=sign_key, expires_in=expires_in)
