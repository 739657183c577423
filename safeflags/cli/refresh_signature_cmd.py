"""`safeflags refresh-signature`: sign a channel's current state again with a
new expiry, changing nothing it serves. Run it from cron well within the
expiry, so clients holding the public key never see the state expire."""
from __future__ import annotations

import click

from safeflags.cli._common import EXIT_OK, exits
from safeflags.cli._signing import echo_state, expires_in_option, sign_key_option, signer
from safeflags.cli._store import channel_option, pointer_line, store, store_option


def run(store_url: str, channel: str, sign_key: str, expires_in: float | None = None) -> int:
    sign = signer(sign_key, expires_in)
    if sign is None:
        raise click.UsageError("refresh-signature needs --sign-key")
    st = store(store_url)
    ptr = st.refresh_signature(channel, sign)
    click.echo(pointer_line("re-signed", ptr, st.url))
    echo_state(ptr)
    return EXIT_OK


@click.command("refresh-signature")
@store_option
@channel_option
@sign_key_option(required=True)
@expires_in_option
@exits
def command(store_url: str, channel: str, sign_key: str, expires_in: float | None) -> int:
    """Renew the signature of the channel's current state (version, digest and
    pin unchanged) with a fresh signing time and expiry.

    Only a state this key signed is renewed: an unsigned or foreign state
    (say, a pin written with store credentials alone) is an error, not
    something to vouch for; sign it with `pin` or `unpin --sign-key` instead.
    """
    return run(store_url, channel, sign_key, expires_in)
