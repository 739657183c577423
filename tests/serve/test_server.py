"""`safeflags serve` as a real process: serves, pushes, stops on SIGTERM."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from safeflags.cli.serve_cmd import TOKEN_ENV, command
from safeflags.delivery import Client
from tests.helpers.delivery import Publisher
from tests.helpers.waiting import wait_until


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
                   "--ofrep-channel", "/metrics", "/healthz"):
        assert option in result.output, option


def test_without_aiohttp_it_says_what_to_install(pub: Publisher) -> None:
    hide = ("import sys; sys.modules['aiohttp'] = None; from safeflags.cli.main import main; "
            f"sys.argv = ['safeflags', 'serve', '--store', {pub.url!r}]; main()")
    proc = subprocess.run([sys.executable, "-c", hide], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "pip install 'safeflags[serve]'" in proc.stderr
