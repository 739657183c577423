"""`safeflags unpin`: let a channel follow its latest published version again."""
from __future__ import annotations

import click

from safeflags.cli._common import EXIT_OK, exits
from safeflags.cli._signing import echo_state, expires_in_option, sign_key_option, signer
from safeflags.cli._store import channel_option, pointer_line, store, store_option


def run(store_url: str, channel: str, *, sign_key: str | None = None, expires_in: float | None = None) -> int:
    sign = signer(sign_key, expires_in)
    st = store(store_url)
    ptr = st.unpin(channel, signer=sign)
    click.echo(pointer_line("unpinned", ptr, st.url))
    echo_state(ptr)
    return EXIT_OK


@click.command("unpin")
@store_option
@channel_option
@sign_key_option()
@expires_in_option
@exits
def command(store_url: str, channel: str, sign_key: str | None, expires_in: float | None) -> int:
    """Unpin the channel: it serves the latest published version again."""
    return run(store_url, channel, sign_key=sign_key, expires_in=expires_in)
