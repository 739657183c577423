"""`safeflags publish`: put a compiled bundle in the store and move a channel to it."""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import click

from safeflags.cli._common import EXIT_OK, exits
from safeflags.cli._store import (
    channel_option,
    echo_json,
    json_option,
    pointer_line,
    store,
    store_option,
)
from safeflags.sdk.kernel.errors import BundleError


def run(bundle: Path, store_url: str, channel: str, *, force: bool = False, sign_key: str | None = None,
        revision: str | None = None, as_json: bool = False) -> int:
    from safeflags.sdk.snapshot import (
        Snapshot,  # refuse to publish bytes no SDK could load
    )

    data = bundle.read_bytes()
    try:
        snapshot = Snapshot.from_bytes(data)
    except BundleError as exc:
        raise BundleError(f"{bundle}: {exc}") from None
    signer = None
    if sign_key is not None:
        from safeflags.delivery.signature import Signer, load_private_key
        signer = Signer(load_private_key(sign_key))
    st = store(store_url, create=True)
    rec, ptr = st.publish(data, channel, source_revision=revision or snapshot.source_revision,
                          force=force, signer=signer)
    if as_json:
        echo_json({"record": asdict(rec), "pointer": asdict(ptr)})
        return EXIT_OK
    click.echo(f"published version {rec.version} of {channel!r} ({len(data):,} bytes, {rec.digest})"
               + (", signed" if rec.signature else ""))
    if rec.forced:
        click.echo(f"note: the channel was pinned; --force moved it to version {rec.version} and unpinned it")
    elif ptr.pinned and ptr.version != rec.version:
        click.echo(f"warning: the channel was pinned meanwhile; it still serves version {ptr.version}", err=True)
    click.echo(pointer_line("now", ptr, st.url))
    return EXIT_OK


@click.command("publish")
@click.argument("bundle", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@store_option
@channel_option
@click.option("--force", is_flag=True, help="Move the channel even if it is pinned (and unpin it).")
@click.option("--sign-key", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Ed25519 private key (PEM) to sign the bundle with; clients with the public key verify it.")
@click.option("--revision", default=None, help="Source revision to record [default: the bundle's own].")
@json_option
@exits
def command(bundle: Path, store_url: str, channel: str, force: bool, sign_key: str | None,
            revision: str | None, as_json: bool) -> int:
    """Publish BUNDLE as the next version of a channel.

    The bundle is stored once under its digest; the channel pointer moves by
    compare-and-swap, so concurrent publishers never lose an update.
    """
    return run(bundle, store_url, channel, force=force, sign_key=sign_key, revision=revision, as_json=as_json)
