"""Options and output shared by the store commands (publish, channels, ...)."""
from __future__ import annotations

import json
from collections.abc import Sequence

import click

from safeflags.store import BundleStore, Pointer, open_store

store_option = click.option(
    "--store", "store_url", envvar="SAFEFLAGS_STORE", required=True, metavar="URL",
    help="file://DIR, s3://BUCKET/PREFIX[?endpoint=..&region=..&profile=..] or http(s):// (read-only). "
         "[env: SAFEFLAGS_STORE]")
channel_option = click.option("--channel", envvar="SAFEFLAGS_CHANNEL", required=True, metavar="NAME",
                              help="The channel, e.g. prod. [env: SAFEFLAGS_CHANNEL]")
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


def store(url: str, *, create: bool = False) -> BundleStore:
    return open_store(url, create=create)


def pointer_line(verb: str, ptr: Pointer, url: str) -> str:
    pin = f", pinned (latest {ptr.latest})" if ptr.pinned else ""
    rev = f", revision {ptr.source_revision}" if ptr.source_revision else ""
    return f"{verb} channel {ptr.channel!r} in {url}: version {ptr.version} ({ptr.digest[:19]}{rev}){pin}"


def table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> str:
    cells = [list(map(str, header))] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells)


def echo_json(obj: object) -> None:
    click.echo(json.dumps(obj, indent=2, sort_keys=True))
