"""`safeflags flips`: the flag changes that reached a scope, version by version.

`--json` prints a list, oldest first, of objects with: key, change ("added",
"removed", "modified"), version, previous (the version compared against),
published (RFC 3339), publisher ("" when the store does not record one),
source_revision, exposure_before and exposure_after (share of the scope's
traffic served non-default, 0..1, null when it could not be estimated), and
rules_before / rules_after (the flag specialised to the scope, one line per rule).
"""
from __future__ import annotations

from dataclasses import asdict

import click

from safeflags.cli._common import EXIT_OK, exits
from safeflags.cli._store import channel_option, echo_json, json_option, store, store_option, table
from safeflags.ops.flips import Flip, flips, parse_since


def _share(x: float | None) -> str:
    return "?" if x is None else f"{x * 100:.4g} %"


def _row(f: Flip) -> tuple[object, ...]:
    return (f.version, f.published, f.publisher or "-", f.source_revision or "-", f.key, f.change,
            f"{_share(f.exposure_before)} -> {_share(f.exposure_after)}")


def run(store_url: str, channel: str, since: str | None, static: tuple[str, ...], as_json: bool = False) -> int:
    found = flips(store(store_url), channel, since=parse_since(since) if since else None, static=static)
    if as_json:
        echo_json([asdict(f) for f in found])
        return EXIT_OK
    scope = ", ".join(static) or "all traffic (no static context)"
    if not found:
        click.echo(f"no flips in channel {channel!r} for {scope}" + (f" since {since}" if since else ""))
        return EXIT_OK
    click.echo(f"flips in channel {channel!r} for {scope}:")
    click.echo(table([_row(f) for f in found],
                     ["VERSION", "PUBLISHED", "BY", "REVISION", "FLAG", "CHANGE", "EXPOSURE"]))
    return EXIT_OK


@click.command("flips")
@store_option
@channel_option
@click.option("--since", default=None, metavar="WHEN",
              help="Only versions published since: a duration (30m, 24h, 7d) or an RFC 3339 time.")
@click.option("--static", "static", multiple=True, metavar="DIM=VALUE",
              help="Pin a static dimension, as a service process does (repeatable), e.g. region=eu-west-1.")
@json_option
@exits
def command(store_url: str, channel: str, since: str | None, static: tuple[str, ...], as_json: bool) -> int:
    """List the flag changes between consecutive versions of a channel that change what a
    process with the given static context serves, with the exposure before -> after in that scope."""
    return run(store_url, channel, since, static, as_json)
