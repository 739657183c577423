"""`safeflags serve`: the store over HTTP with ETags, a push stream, /metrics and /healthz."""
from __future__ import annotations

import contextlib
import os
import resource
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from safeflags.cli._common import EXIT_OK, exits
from safeflags.cli._store import store, store_option
from safeflags.ops.context import parse_pairs
from safeflags.store import BundleStore
from safeflags.v1 import bundle_pb2

TOKEN_ENV = "SAFEFLAGS_SERVE_TOKEN"


def read_token(token_file: Path | None) -> str | None:
    env = os.environ.get(TOKEN_ENV)
    if token_file is not None and env:
        raise click.UsageError(f"give the token by --token-file or by {TOKEN_ENV}, not both")
    if token_file is None:
        return env or None
    try:
        token = token_file.read_text().strip()
    except OSError as exc:
        raise click.UsageError(f"cannot read --token-file {token_file}: {exc.strerror}") from None
    if not token:
        raise click.UsageError(f"--token-file {token_file} is empty")
    return token


def raise_open_files() -> int:
    """Every held stream is a descriptor: take the hard limit, not the (often 1,024) soft one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def ofrep_static(st: BundleStore, channel: str, pairs: Sequence[str]) -> dict[str, object]:
    """`--ofrep-static DIM=VALUE` typed by the catalog of the channel's current bundle, as
    `Client(static=...)` would take them: a name that is not a static dimension there is an
    error now, not a value silently ignored on every request."""
    bundle = bundle_pb2.Bundle.FromString(st.bundle(st.pointer(channel).digest))
    return parse_pairs(pairs, {d.name: d for d in bundle.dimensions}, "--ofrep-static", static_only=True)


def run(store_url: str, host: str, port: int, *, token_file: Path | None = None, ofrep_channel: str | None = None,
        ofrep_targeting_key: str | None = None, ofrep_max_contexts: int | None = None,
        ofrep_static_pairs: Sequence[str] = (), **options: Any) -> int:
    try:
        from safeflags.serve import FlagServer
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] != "aiohttp":
            raise
        raise click.ClickException("safeflags serve needs aiohttp: pip install 'safeflags[serve]'") from None

    if ofrep_static_pairs and ofrep_channel is None:
        raise click.UsageError("--ofrep-static needs --ofrep-channel")
    token = read_token(token_file)
    st = store(store_url)
    st.backend.check()
    ofrep: dict[str, Any] = {}
    if ofrep_channel is not None and ofrep_static_pairs:
        ofrep["static_dims"] = ofrep_static(st, ofrep_channel, ofrep_static_pairs)
    if ofrep_targeting_key is not None:
        ofrep["targeting_key"] = ofrep_targeting_key
    if ofrep_max_contexts is not None:
        ofrep["max_contexts"] = ofrep_max_contexts
    files = raise_open_files()
    server = FlagServer(st, host, port, token=token, ofrep_channel=ofrep_channel, ofrep_options=ofrep, **options)
    # SIGTERM (a container stopping) ends the loop like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    extras = [f"events: {server.url}/events?channel=NAME", "token required" if token else "no token",
              f"{files} open files"]
    if ofrep_channel:
        pinned = "".join(f", {k}={v!r}" for k, v in sorted(ofrep.get("static_dims", {}).items()))
        extras.append(f"OFREP on channel {ofrep_channel!r}{pinned}")
    click.echo(f"serving {st.url} on {server.url} ({', '.join(extras)})", err=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return EXIT_OK


seconds = click.FloatRange(min=0.01)


@click.command("serve")
@store_option
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0 for every interface).")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option("--watch-interval", type=seconds, default=0.2, show_default=True,
              help="Seconds between conditional reads of the store's channel pointers; a publish reaches "
                   "subscribers within about this long.")
@click.option("--list-interval", type=seconds, default=10.0, show_default=True,
              help="Seconds between listings of the store to find new channels; also how long a channel "
                   "the store does not have is remembered as absent.")
@click.option("--heartbeat", type=click.FloatRange(min=0.1), default=15.0, show_default=True,
              help="Seconds between keep-alive comments on idle event streams.")
@click.option("--token-file", type=click.Path(dir_okay=False, path_type=Path),
              help=f"A file holding the bearer token every request but /healthz must send "
                   f"(Authorization: Bearer ...). Or set {TOKEN_ENV}. Without either, no token is asked.")
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False),
              help="PEM certificate (chain) to serve HTTPS with; needs --tls-key. Or terminate TLS in front.")
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False), help="PEM private key of --tls-cert.")
@click.option("--backlog", type=click.IntRange(min=1), default=4096, show_default=True,
              help="Connections the kernel queues before they are accepted (capped by net.core.somaxconn).")
@click.option("--idle-timeout", type=seconds, default=15.0, show_default=True,
              help="Seconds a connection may go without a complete request head, from opening or from its "
                   "last response: closes idle keep-alive connections and clients that drip their headers.")
@click.option("--read-timeout", type=seconds, default=10.0, show_default=True,
              help="Seconds a request body (OFREP) may take to arrive.")
@click.option("--write-timeout", type=seconds, default=10.0, show_default=True,
              help="Seconds an event stream may stay blocked on a client that does not read before it is closed.")
@click.option("--max-channels", type=click.IntRange(min=1), default=16, show_default=True,
              help="Channels one event stream may subscribe to.")
@click.option("--max-connections-per-client", type=click.IntRange(min=0), default=1024, show_default=True,
              help="Concurrent connections from one client address (0: no bound); one beyond gets 429. "
                   "Behind a proxy or NAT every client shares its address: raise it or use 0.")
@click.option("--ofrep-channel", metavar="NAME",
              help="Also answer OFREP (POST /ofrep/v1/evaluate/flags...) evaluating this channel.")
@click.option("--ofrep-targeting-key", metavar="DIM",
              help="The dimension OFREP's targetingKey fills (default: user_id).")
@click.option("--ofrep-static", "ofrep_static_pairs", metavar="DIM=VALUE", multiple=True,
              help="Pin a static dimension for every OFREP request, as Client(static=...) does in-process "
                   "(a request's own value for it is ignored); repeatable. Typed by the catalog of the "
                   "channel's current bundle: an undeclared or non-static dimension is an error.")
@click.option("--ofrep-max-contexts", type=click.IntRange(min=1),
              help="Specialised snapshots OFREP keeps, one per distinct static context (default: 64).")
@exits
def command(store_url: str, host: str, port: int, **options: Any) -> int:
    """Serve a store over HTTP: channels with ETags (304 on If-None-Match),
    immutable bundles, manifests and chunks, listings, and a push stream
    (Server-Sent Events: GET /events?channel=NAME). GET /metrics is in
    Prometheus text format; GET /healthz answers 200 while the store watch
    succeeds, else 503.

    Several serve processes behind a load balancer need no coordination:
    each watches the store itself (docs/store.md)."""
    return run(store_url, host, port, **options)
