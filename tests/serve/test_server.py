"""`safeflags serve` as a real process: serves, pushes, stops on SIGTERM."""
from __future__ import annotations

import re
import signal
import subprocess
import sys

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
