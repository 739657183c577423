"""`safeflags serve` as a real process: serves, pushes, stops on SIGTERM."""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from safeflags.cli.serve_cmd import TOKEN_ENV, command
from safeflags.delivery import Client
from safeflags.store import BundleStore
from tests.helpers.builder import Builder
from tests.helpers.bundles import numbered
from tests.helpers.delivery import Publisher
from tests.helpers.waiting import wait_until
from tests.serve.conftest import Serve, Watched, on_loop
from tests.serve.wire import connect, read_all, request, response


def test_serve_command(pub: Publisher) -> None:
    pub.publish(1)
    proc = subprocess.Popen(
        [sys.executable, "-m", "safeflags.cli.main", "serve", "--store", pub.url, "--port", "0",
         "--watch-interval", "0.05", "--heartbeat", "3600"], stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        match = re.search(r"on (http://127\.0\.0\.1:\d+)", line)
        assert match, line
        client = Client(store=match.group(1), channel="prod", poll_interval=30)
        assert client.get_int("t.n", 0) == 1
        wait_until(lambda: client.delivery_status().push == "connected", what="stream")  # type: ignore[union-attr]
        pub.publish(2)
        wait_until(lambda: client.get_int("t.n", 0) == 2, timeout=5, what="pushed version 2")
        # The stream is idle (no heartbeat for an hour): closing must end the
        # stream reader itself, not leave it behind once close() stops waiting.
        assert client.delivery is not None
        threads = list(client.delivery._threads)
        assert len(threads) == 2  # the poller and the stream reader
        client.close()
        assert [t.name for t in threads if t.is_alive()] == []
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def start_serve(pub: Publisher, *args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "safeflags.cli.main", "serve", "--store", pub.url, "--port", "0",
         "--watch-interval", "0.05", *args], stderr=subprocess.PIPE, text=True,
        env={**os.environ, **(env or {})})
    assert proc.stderr is not None
    line = proc.stderr.readline()
    match = re.search(r"on (https?://127\.0\.0\.1:\d+)", line)
    if match is None:
        proc.kill()
        proc.wait()
        raise AssertionError(line + proc.stderr.read())
    return proc, match.group(1)


def stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("how", ["file", "env"])
def test_serve_command_with_a_token(pub: Publisher, tmp_path: Path, how: str) -> None:
    pub.publish(1)
    token_file = tmp_path / "token"
    token_file.write_text("from-a-file\n")
    args, env = (["--token-file", str(token_file)], {}) if how == "file" else ([], {TOKEN_ENV: "from-a-file"})
    proc, url = start_serve(pub, *args, env=env)
    try:
        assert urllib.request.urlopen(url + "/healthz", timeout=5).status == 200
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url + "/channels/prod.json", timeout=5)
        assert refused.value.code == 401
        with Client(store=url, channel="prod", poll_interval=30, token="from-a-file") as client:
            assert client.get_int("t.n", 0) == 1
    finally:
        stop(proc)


def test_token_file_and_env_together_are_refused(pub: Publisher, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("a")
    result = CliRunner().invoke(command, ["--store", pub.url, "--token-file", str(token_file)],
                                env={TOKEN_ENV: "b"})
    assert result.exit_code == 2 and "not both" in result.output


def test_help_explains_the_options() -> None:
    result = CliRunner().invoke(command, ["--help"], terminal_width=200)
    assert result.exit_code == 0
    for option in ("--token-file", TOKEN_ENV, "--tls-cert", "--tls-key", "--backlog", "--idle-timeout",
                   "--read-timeout", "--write-timeout", "--max-channels", "--max-connections-per-client",
                   "--ofrep-channel", "--ofrep-static", "DIM=VALUE", "/metrics", "/healthz"):
        assert option in result.output, option


def test_without_aiohttp_it_says_what_to_install(pub: Publisher) -> None:
    hide = ("import sys; sys.modules['aiohttp'] = None; from safeflags.cli.main import main; "
            f"sys.argv = ['safeflags', 'serve', '--store', {pub.url!r}]; main()")
    proc = subprocess.run([sys.executable, "-c", hide], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "pip install 'safeflags[serve]'" in proc.stderr


def static_bundle() -> bytes:
    """`t.eu` is on for region "eu" (a static string); `t.big` for tier >= 2 (a static int)."""
    b = Builder()
    return b.data([b.flag("t.eu", "bool", [False, True], [b.rule(b.in_("region", "eu"), 1)]),
                   b.flag("t.big", "bool", [False, True], [b.rule(b.cmp("tier", ">=", 2), 1)])])


def test_ofrep_static_pins_typed_values(pub: Publisher) -> None:
    pub.publish(data=static_bundle())
    proc, url = start_serve(pub, "--ofrep-channel", "prod", "--ofrep-static", "region=eu",
                            "--ofrep-static", "tier=3")
    try:
        def value(key: str, context: dict[str, object]) -> object:
            r = httpx.post(f"{url}/ofrep/v1/evaluate/flags/{key}", json={"context": context}, timeout=10)
            assert r.status_code == 200, r.text
            return r.json()["value"]

        # The server's values win over the request's, and tier=3 is read as the int 3 (as text it
        # would not compare with 2 at all).
        assert value("t.eu", {"targetingKey": "u", "region": "us"}) is True
        assert value("t.big", {"targetingKey": "u", "tier": 1}) is True
    finally:
        stop(proc)


@pytest.mark.parametrize(("args", "message"), [
    pytest.param(["--ofrep-static", "region=eu"], "--ofrep-static needs --ofrep-channel", id="no-channel"),
    pytest.param(["--ofrep-channel", "prod", "--ofrep-static", "regoin=eu"], "did you mean 'region'",
                 id="misspelt"),
    pytest.param(["--ofrep-channel", "prod", "--ofrep-static", "plan=pro"], "not a static dimension",
                 id="not-static"),
    pytest.param(["--ofrep-channel", "prod", "--ofrep-static", "tier=many"], "not a valid value",
                 id="mistyped"),
    pytest.param(["--ofrep-channel", "prod", "--ofrep-static", "region"], "expected NAME=VALUE", id="no-value"),
])
def test_ofrep_static_refused_before_serving(pub: Publisher, args: list[str], message: str) -> None:
    pub.publish(data=static_bundle())
    result = CliRunner().invoke(command, ["--store", pub.url, "--port", "0", *args])
    assert result.exit_code == 2 and message in result.output, result.output


def test_close_ends_every_stream_cleanly(serve: Serve) -> None:
    """close() ends an /events stream and an OFREP event stream as bodies that are complete (the
    terminating chunk, then the server's FIN), never cut or reset once a grace period runs out:
    a client tells "the server went away" from "my connection broke" and reconnects at once."""
    srv = serve(ofrep_channel="prod")
    # What each sends first once open: /events the channel's state; OFREP its retry field (a new
    # OFREP client has just fetched, so it is told of the next publish only).
    streams = {"/events?channel=prod": b"event: channel", "/ofrep/v1/events": b"retry: 2000"}
    socks, got = {}, {}
    for path, first in streams.items():
        sock = connect(srv.port, timeout=10)
        sock.sendall(request(path))
        got[path] = b""
        while first not in got[path]:  # open, and past its first write
            more = sock.recv(65536)
            assert more, got[path]
            got[path] += more
        socks[path] = sock
    srv.close()
    for path, sock in socks.items():
        with sock:
            body = got[path] + read_all(sock)  # a reset raises here; a server that never ends times out
        assert b"transfer-encoding: chunked" in body.lower(), body
        assert body.endswith(b"\r\n0\r\n\r\n"), (path, body[-200:])


def test_no_answer_names_the_http_stack(serve: Serve) -> None:
    srv = serve(ofrep_channel="prod")
    with connect(srv.port) as sock:
        sock.sendall(request("/channels/prod.json"))
        status, headers, _ = response(sock)
        answers = [(status, headers)]
        body = json.dumps({"context": {"targetingKey": "u"}}).encode()
        for req in (request("/channels/prod.json", f"If-None-Match: {headers['etag']}"),
                    request("/healthz"), request("/no/such/route"),
                    request("/ofrep/v1/evaluate/flags/t.n", "Content-Type: application/json",
                            f"Content-Length: {len(body)}", method="POST", body=body)):
            sock.sendall(req)
            answers.append(response(sock)[:2])
    assert [s for s, _ in answers] == [200, 304, 200, 404, 200]
    with connect(srv.port) as sock:  # refused by the parser, before any route
        sock.sendall(request("/healthz", "Content-Length: 1", "Content-Length: 2"))
        raw = read_all(sock)
    with connect(srv.port) as sock:  # a stream's head
        sock.sendall(request("/events?channel=prod"))
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(65536)
    assert b" 400 " in raw.split(b"\r\n")[0] and head.startswith(b"HTTP/1.1 200")
    assert [h.get("server") for _, h in answers] == ["safeflags"] * len(answers)
    for text in (raw, head):
        assert b"\r\nServer: safeflags\r\n" in text and b"aiohttp" not in text.lower(), text


def test_absent_objects_cost_one_store_read_per_watch_interval(
        pub: Publisher, serve: Serve, watched: tuple[Watched, BundleStore]) -> None:
    """Made-up digests are answered 404 from memory; a store error is never taken for an absence;
    an object written later is served once its pointer moves (or the short memory lapses)."""
    backend, store = watched
    srv = serve(store=store, watch_interval=3600)  # no poll during the test but the ones it asks for
    made_up = "sha256-" + "ab" * 32
    keys = [f"bundles/{made_up}.pb", f"manifests/{made_up}.pb", f"chunks/{made_up}.pb"]
    with httpx.Client(base_url=srv.url, timeout=10) as http:
        for _ in range(20):
            assert [http.get(f"/{k}").status_code for k in keys] == [404] * 3
        assert [backend.reads[k] for k in keys] == [1] * 3

        other = f"bundles/sha256-{'cd' * 32}.pb"
        backend.down = True
        assert [http.get(f"/{other}").status_code for _ in range(3)] == [502] * 3
        backend.down = False
        assert [http.get(f"/{other}").status_code for _ in range(3)] == [404] * 3
        assert backend.reads[other] == 4  # three errors, each read again; then one absence

        # A publish writes the bundle, then moves the pointer: the move forgets the absence at once.
        data = numbered(2)
        digest = "sha256-" + hashlib.sha256(data).hexdigest()
        assert http.get(f"/bundles/{digest}.pb").status_code == 404
        pub.publish(2)
        assert http.get(f"/bundles/{digest}.pb").status_code == 404  # not polled yet: still remembered
        assert srv._loop is not None
        asyncio.run_coroutine_threadsafe(srv.state.poll(), srv._loop).result(10)
        got = http.get(f"/bundles/{digest}.pb")
        assert got.status_code == 200 and got.content == data
        assert backend.reads[f"bundles/{digest}.pb"] == 2

        # Past one watch interval an absence is asked again (the store may have it by now).
        def lapse() -> None:
            srv.state._absent[keys[0]] -= 3600 + 1
        on_loop(srv, lapse)
        assert http.get(f"/{keys[0]}").status_code == 404 and backend.reads[keys[0]] == 2
