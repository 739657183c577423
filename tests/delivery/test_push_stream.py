"""The push listener against scripted SSE servers on 127.0.0.1: the
`retry:` field, jittered and capped reconnects (the random source is
injected: delays are asserted as numbers, never timed), a silent stream
found dead, the line bound, the token on the stream, a connection of its
own, and a close() that does not wait for the server."""
from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from safeflags.delivery import Client
from safeflags.delivery.push import MAX_RETRY, Backoff, PushListener
from safeflags.store.http import HttpBackend
from tests.helpers.delivery import Publisher
from tests.helpers.waiting import wait_until
from tests.store.http_origin import Origin

TOKEN = "push-t0ken-never-logged"
HOLD = 30.0  # how long a held stream waits for the test to end


@dataclass
class Owner:
    """What a PushListener needs of its Delivery."""

    backend: HttpBackend
    channel: str = "prod"
    poll_interval: float = 3600.0
    stop_event: threading.Event = field(default_factory=threading.Event)
    wake: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None  # the listener's, once started
    url: str = ""

    def __post_init__(self) -> None:
        self.url = self.backend.url


class Streams:
    """An Origin whose /events runs `script(handler, n)` for the n-th stream (1, 2, ...)."""

    def __init__(self, script: Callable[[BaseHTTPRequestHandler, int], None], root: Path | None = None):
        self.origin = Origin(root=root)
        self.opened = 0
        self.release = threading.Event()
        self._lock = threading.Lock()

        def events(h: BaseHTTPRequestHandler) -> None:
            with self._lock:
                self.opened += 1
                n = self.opened
            script(h, n)
            h.close_connection = True

        self.origin.scripts["/events"] = events

    def close(self) -> None:
        self.release.set()
        self.origin.close()


def stream_head(h: BaseHTTPRequestHandler, content_type: str = "text/event-stream") -> None:
    h.send_response(200)
    h.send_header("Content-Type", content_type)
    h.send_header("Cache-Control", "no-store")
    h.end_headers()


def send(h: BaseHTTPRequestHandler, data: bytes) -> None:
    try:
        h.wfile.write(data)
        h.wfile.flush()
    except OSError:
        pass


@pytest.fixture
def rig() -> Iterator[Callable[..., tuple[Streams, PushListener, Owner]]]:
    made: list[tuple[Streams, PushListener, Owner, threading.Thread]] = []

    def make(script: Callable[[BaseHTTPRequestHandler, int], None], *, backoff: Backoff | None = None,
             read_timeout: float = HOLD, token: str | None = None) -> tuple[Streams, PushListener, Owner]:
        streams = Streams(script)
        owner = Owner(HttpBackend(streams.origin.url, timeout=5, token=token))
        listener = PushListener(owner, read_timeout=read_timeout, backoff=backoff)
        owner.thread = listener.start()
        made.append((streams, listener, owner, owner.thread))
        return streams, listener, owner

    yield make
    for streams, listener, owner, thread in made:
        owner.stop_event.set()
        listener.close()
        thread.join(10)
        streams.close()


def fixed(*values: float) -> Callable[[], float]:
    """An injected random source: these values, then the last one for ever."""
    it = itertools.chain(values, itertools.repeat(values[-1]))
    return lambda: next(it)


def test_backoff_is_full_jitter_and_capped() -> None:
    top = Backoff(base=1.0, cap=8.0, rand=fixed(1.0))
    assert [top.next() for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    spread = Backoff(base=1.0, cap=8.0, rand=fixed(0.5, 0.25, 0.0, 0.75))
    assert [spread.next() for _ in range(4)] == [0.5, 0.5, 0.0, 6.0]
    spread.floor = 3.0  # the server's retry: never sooner, still spread above it
    assert [spread.next() for _ in range(2)] == [9.0, 9.0]
    spread.reset()
    assert spread.next() == 3.75
    assert Backoff(base=1.0, cap=30.0, rand=fixed(1.0)).next() == 1.0
    many = Backoff(base=1.0, cap=30.0, rand=fixed(1.0))
    assert max(many.next() for _ in range(200)) == 30.0  # no overflow, however long the outage


def test_reconnects_follow_the_injected_jitter(rig) -> None:  # type: ignore[no-untyped-def]
    # Every stream is accepted and ended at once: each end is a reconnect after a backoff delay.
    streams, listener, owner = rig(lambda h, n: stream_head(h),
                                   backoff=Backoff(base=0.001, cap=0.004, rand=fixed(1.0, 0.5, 1.0, 0.25, 1.0)))
    wait_until(lambda: streams.opened >= 6, what="six streams")
    assert listener.delays[:5] == [0.001, 0.001, 0.004, 0.001, 0.004]  # jittered by the source, capped at 0.004
    assert owner.wake.is_set()  # each connect catches up


def test_the_retry_field_is_the_minimum_delay(rig) -> None:  # type: ignore[no-untyped-def]
    def script(h: BaseHTTPRequestHandler, n: int) -> None:
        stream_head(h)
        send(h, b"retry: 250\n\n" if n == 1 else b": no retry this time\n\n")

    streams, listener, _ = rig(script, backoff=Backoff(base=0.001, cap=0.001, rand=fixed(0.0)))
    wait_until(lambda: streams.opened >= 3, what="three streams")
    assert listener.backoff.floor == 0.25  # kept across reconnects, as SSE says
    assert listener.delays[:2] == [0.25, 0.25]


def test_a_huge_retry_is_bounded(rig) -> None:  # type: ignore[no-untyped-def]
    def script(h: BaseHTTPRequestHandler, n: int) -> None:
        stream_head(h)
        send(h, b"retry: 99999999999\n\n")

    _, listener, _ = rig(script, backoff=Backoff(base=0.001, cap=0.001, rand=fixed(0.0)))
    wait_until(lambda: listener.delays, what="the first drop")
    assert listener.backoff.floor == MAX_RETRY and listener.delays == [MAX_RETRY]


def test_channel_events_wake_and_comments_do_not(rig) -> None:  # type: ignore[no-untyped-def]
    def script(h: BaseHTTPRequestHandler, n: int) -> None:
        stream_head(h)
        send(h, b': heartbeat\n\nevent: channel\ndata: {"channel": "prod"}\n\n: hb\n\nevent: other\ndata: x\n\n'
                b'event: channel\r\ndata: {}\r\n\r\n')
        streams.release.wait(HOLD)

    streams, listener, _ = rig(script)
    wait_until(lambda: listener.events == 2, what="two channel events")
    assert listener.state == "connected" and listener.delays == []


def test_a_silent_stream_is_dead(rig) -> None:  # type: ignore[no-untyped-def]
    def script(h: BaseHTTPRequestHandler, n: int) -> None:
        stream_head(h)
        send(h, b": hello\n\n")
        streams.release.wait(HOLD)  # then nothing: no heartbeat ever again

    streams, listener, _ = rig(script, read_timeout=0.2, backoff=Backoff(base=0.001, cap=0.001, rand=fixed(0.0)))
    wait_until(lambda: streams.opened >= 2, what="a new stream after the silent one")
    assert listener.delays  # the first was given up as dead, not waited on for ever


def test_a_line_past_the_bound_drops_the_stream(rig) -> None:  # type: ignore[no-untyped-def]
    def script(h: BaseHTTPRequestHandler, n: int) -> None:
        stream_head(h)
        if n == 1:
            for _ in range(64):  # 256 KiB without a line break, sent in pieces
                send(h, b"data: " + b"x" * 4096)
        else:
            send(h, b"event: channel\ndata: {}\n\n")
        streams.release.wait(HOLD)

    streams, listener, _ = rig(script, backoff=Backoff(base=0.001, cap=0.001, rand=fixed(0.0)))
    wait_until(lambda: listener.events == 1, what="the event on the second stream")
    assert streams.opened == 2 and len(listener.delays) == 1


def test_a_page_that_is_no_event_stream_means_polling_only(rig) -> None:  # type: ignore[no-untyped-def]
    def script(h: BaseHTTPRequestHandler, n: int) -> None:
        stream_head(h, content_type="text/html")
        send(h, b"<html></html>")

    streams, listener, _ = rig(script)
    wait_until(lambda: listener.state == "unsupported", what="unsupported")
    assert streams.opened == 1


def test_no_stream_at_all_means_polling_only(rig) -> None:  # type: ignore[no-untyped-def]
    streams, listener, _ = rig(lambda h, n: h.send_error(404))
    wait_until(lambda: listener.state == "unsupported", what="unsupported")
    assert streams.opened == 1


def test_the_token_goes_with_the_stream_and_is_never_logged(rig, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)

    def script(h: BaseHTTPRequestHandler, n: int) -> None:
        if h.headers.get("Authorization") != f"Bearer {TOKEN}":
            h.send_error(401)
            return
        stream_head(h)
        send(h, b"event: channel\ndata: {}\n\n")
        streams.release.wait(HOLD)

    streams, listener, _ = rig(script, token=TOKEN)
    wait_until(lambda: listener.events == 1, what="an event through the token check")
    seen = streams.origin.seen[0]
    assert seen.path == "/events?channel=prod" and seen.headers["accept"] == "text/event-stream"
    assert TOKEN not in caplog.text


@pytest.mark.parametrize("answers", [True, False], ids=["reading", "awaiting-headers"])
def test_close_does_not_wait_for_the_server(rig, answers: bool) -> None:  # type: ignore[no-untyped-def]
    def script(h: BaseHTTPRequestHandler, n: int) -> None:
        if answers:
            stream_head(h)
        streams.release.wait(HOLD)  # then silent, far past any join below

    streams, listener, owner = rig(script)
    wait_until(lambda: streams.opened == 1, what="the stream request")
    if answers:
        wait_until(lambda: listener.state == "connected", what="connected")
    thread = owner.thread
    assert thread is not None
    owner.stop_event.set()
    listener.close()
    thread.join(HOLD / 3)
    assert not thread.is_alive()  # unblocked by close(), not by the server or a timeout


def test_the_stream_never_takes_the_polls_connection(pub: Publisher, tmp_path: Path) -> None:
    pub.publish(1)

    def script(h: BaseHTTPRequestHandler, n: int) -> None:
        stream_head(h)
        send(h, b": hello\n\n")
        streams.release.wait(HOLD)

    streams = Streams(script, root=tmp_path / "store")
    try:
        with Client(store=streams.origin.url, channel="prod", poll_interval=0.05, min_refresh_interval=0) as client:
            wait_until(lambda: client.delivery_status().push == "connected", what="stream")  # type: ignore[union-attr]
            polls = lambda: [s for s in streams.origin.seen if s.path.startswith("/channels/")]  # noqa: E731
            wait_until(lambda: len(polls()) >= 5, what="polls while the stream is held")
        stream = next(s for s in streams.origin.seen if s.path.startswith("/events"))
        assert {s.connection for s in polls()} == {polls()[0].connection} != {stream.connection}
    finally:
        streams.close()
