"""`safeflags serve`: the store over HTTP, with ETags and a push stream."""
from __future__ import annotations

import contextlib
import signal

import click

from safeflags.cli._common import EXIT_OK, exits
from safeflags.cli._store import store, store_option


def run(store_url: str, host: str, port: int, watch_interval: float, heartbeat: float) -> int:
    from safeflags.serve import FlagServer

    st = store(store_url)
    st.backend.check()
    server = FlagServer(st, host, port, watch_interval=watch_interval, heartbeat=heartbeat)
    # SIGTERM (a container stopping) ends the loop like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    click.echo(f"serving {st.url} on {server.url} (events: {server.url}/events?channel=NAME)", err=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return EXIT_OK


@click.command("serve")
@store_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option("--watch-interval", type=click.FloatRange(min=0.01), default=0.2, show_default=True,
              help="Seconds between checks of the store for moved channels.")
@click.option("--heartbeat", type=click.FloatRange(min=0.1), default=15.0, show_default=True,
              help="Seconds between keep-alive comments on idle event streams.")
@exits
def command(store_url: str, host: str, port: int, watch_interval: float, heartbeat: float) -> int:
    """Serve channels and bundles over HTTP with ETags, and push channel
    updates as Server-Sent Events (GET /events?channel=NAME)."""
    return run(store_url, host, port, watch_interval, heartbeat)
