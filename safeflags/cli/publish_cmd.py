"""`safeflags publish`: put a compiled bundle in the store and move a channel to it."""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import click

from safeflags.cli._common import EXIT_OK, exits
from safeflags.cli._signing import echo_state, expires_in_option, sign_key_option, signer
from safeflags.cli._store import (
    channel_option,
    echo_json,
    json_option,
    pointer_line,
    store,
    store_option,
)
from safeflags.sdk.kernel.errors import BundleError
from safeflags.store import BundleStore, PublishRefused, StoreError

if TYPE_CHECKING:
    from safeflags.sdk.snapshot import Snapshot

MAX_DROP = 50.0  # percent of a channel's flags one publish may drop without --force


def run(bundle: Path, store_url: str, channel: str, *, force: bool = False, sign_key: str | None = None,
        revision: str | None = None, as_json: bool = False, expires_in: float | None = None,
        max_drop: float = MAX_DROP) -> int:
    from safeflags.sdk.snapshot import (
        Snapshot,  # refuse to publish bytes no SDK could load
    )

    data = bundle.read_bytes()
    try:
        snapshot = Snapshot.from_bytes(data)
    except BundleError as exc:
        raise BundleError(f"{bundle}: {exc}") from None
    sign = signer(sign_key, expires_in)
    st = store(store_url, create=True)
    if not force:
        check_drops(st, channel, snapshot, max_drop)
    rec, ptr = st.publish(data, channel, source_revision=revision or snapshot.source_revision,
                          force=force, signer=sign)
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
    echo_state(ptr)
    return EXIT_OK


def check_drops(st: BundleStore, channel: str, snapshot: Snapshot, max_drop: float) -> None:
    """Refuse a bundle without flags, or one that drops more than `max_drop`
    percent of the flags the channel serves now: every service would fall
    back to its code defaults for them, which is a broken build far more
    often than a wish."""
    from safeflags.sdk.snapshot import Snapshot

    if len(snapshot) == 0:
        raise PublishRefused(f"refusing to publish a bundle with 0 flags to {channel!r}: every service would "
                             "serve its code defaults; use --force if that is really meant")
    ptr, _ = st.read_pointer(channel)
    if ptr is None:
        return
    try:
        current = Snapshot.from_bytes(st.bundle(ptr.digest))
    except (StoreError, BundleError) as exc:
        click.echo(f"warning: cannot count the flags of version {ptr.version} of {channel!r} ({exc}): "
                   "publishing without the check for dropped flags", err=True)
        return
    dropped = sorted(set(current.flags) - set(snapshot.flags))
    share = 100 * len(dropped) / len(current) if len(current) else 0.0
    if share > max_drop:
        shown = ", ".join(dropped[:5]) + (f", ... ({len(dropped) - 5} more)" if len(dropped) > 5 else "")
        raise PublishRefused(
            f"refusing to publish: the bundle drops {len(dropped)} of the {len(current)} flags {channel!r} serves "
            f"now (version {ptr.version}), {share:.0f} %, more than the {max_drop:g} % allowed: {shown}; "
            "use --force to publish anyway, or --max-drop to allow more")


@click.command("publish")
@click.argument("bundle", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@store_option
@channel_option
@click.option("--force", is_flag=True, help="Move the channel even if it is pinned (and unpin it), and even if "
              "the bundle has no flags or drops more of them than --max-drop allows.")
@click.option("--max-drop", type=click.FloatRange(0, 100), default=MAX_DROP, show_default=True, metavar="PERCENT",
              envvar="SAFEFLAGS_MAX_DROP", help="Refuse, without --force, a bundle that drops more than this "
              "share of the flags the channel serves now. [env: SAFEFLAGS_MAX_DROP]")
@sign_key_option()
@expires_in_option
@click.option("--revision", default=None, help="Source revision to record [default: the bundle's own].")
@json_option
@exits
def command(bundle: Path, store_url: str, channel: str, force: bool, max_drop: float, sign_key: str | None,
            expires_in: float | None, revision: str | None, as_json: bool) -> int:
    """Publish BUNDLE as the next version of a channel.

    The bundle is stored once under its digest; the channel pointer moves by
    compare-and-swap, so concurrent publishers never lose an update. A bundle
    with no flags, or one that drops more than --max-drop of the channel's
    flags, is refused unless --force.
    """
    return run(bundle, store_url, channel, force=force, sign_key=sign_key, revision=revision, as_json=as_json,
               expires_in=expires_in, max_drop=max_drop)
