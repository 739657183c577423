"""A forked child (gunicorn --preload, celery prefork) keeps its flags current:
the delivery restarts its threads in the child and says so (fork.py)."""
from __future__ import annotations

import json
import logging
import multiprocessing
import os
import select
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from safeflags.delivery import Client
from safeflags.store import Obj
from safeflags.store.file import FileBackend
from tests.helpers.delivery import Publisher
from tests.helpers.waiting import wait_until

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

POLL = 0.05
CHILD_TIMEOUT = 30


def in_child(work: Callable[[], dict[str, Any]]) -> tuple[int, Callable[[], dict[str, Any]]]:
    """Fork; the child runs `work` and writes its JSON answer to a pipe. Returns the pid and a reader."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        os.close(r)
        signal.alarm(CHILD_TIMEOUT)  # a deadlocked child dies instead of hanging the suite
        code = 0
        try:
            answer = work()
        except BaseException as exc:
            answer, code = {"error": f"{type(exc).__name__}: {exc}"}, 1
        os.write(w, json.dumps(answer).encode())
        os._exit(code)
    os.close(w)

    def read() -> dict[str, Any]:
        chunks = []
        deadline = time.monotonic() + CHILD_TIMEOUT + 5
        while time.monotonic() < deadline:
            ready, _, _ = select.select([r], [], [], 1.0)
            if ready:
                data = os.read(r, 65536)
                if not data:
                    break
                chunks.append(data)
        os.close(r)
        _, status = os.waitpid(pid, 0)
        answer: dict[str, Any] = json.loads(b"".join(chunks) or b'{"error": "no answer"}')
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, (status, answer)
        return answer

    return pid, read


@pytest.fixture
def client(pub: Publisher) -> Iterator[Client]:
    pub.publish(1)
    with Client(store=pub.url, channel="prod", poll_interval=POLL, min_refresh_interval=0, push=False) as c:
        yield c


class Recording(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_a_forked_child_keeps_updating_and_says_so(pub: Publisher, client: Client) -> None:
    go_r, go_w = os.pipe()
    logger = logging.getLogger("safeflags")
    recording, level = Recording(), logger.level

    def child() -> dict[str, Any]:
        os.close(go_w)
        os.read(go_r, 1)  # the parent has published version 2
        wait_until(lambda: client.get_int("t.n", 0) == 2, timeout=20, what="the child to serve version 2")
        st = client.delivery_status()
        assert st is not None
        return {"n": client.get_int("t.n", 0), "pid": st.pid, "forked_from": st.forked_from,
                "threads": [t.name for t in threading.enumerate()], "log": recording.messages}

    logger.addHandler(recording)
    logger.setLevel(logging.INFO)
    try:
        pid, answer = in_child(child)
    finally:
        logger.removeHandler(recording)
        logger.setLevel(level)
    os.close(go_r)
    pub.publish(2)
    os.write(go_w, b"x")
    os.close(go_w)
    got = answer()
    assert got["n"] == 2 and got["pid"] == pid and got["forked_from"] == os.getpid()
    assert "safeflags-poll-prod" in got["threads"]
    assert f"safeflags: restarted delivery of channel 'prod' in forked child pid {pid} (forked from " \
        f"{os.getpid()})" in got["log"]
    st = client.delivery_status()
    assert st is not None and st.forked_from is None and st.pid == os.getpid()


class Stalling(FileBackend):
    """Holds the parent's reads of a bundle until released: a refresh in flight."""

    def __init__(self, root: Path):
        super().__init__(root)
        self.parent = os.getpid()
        self.entered, self.release = threading.Event(), threading.Event()

    def get(self, key: str, if_none_match: str | None = None) -> Obj | None:
        if key.startswith(("bundles/", "manifests/")) and os.getpid() == self.parent:
            self.entered.set()
            self.release.wait(20)
        return super().get(key, if_none_match)


def test_a_child_forked_during_a_refresh_does_not_deadlock(pub: Publisher) -> None:
    from safeflags.delivery import Delivery
    from safeflags.sdk.evaluator import Evaluator

    pub.publish(1)
    backend = Stalling(Path(pub.url.removeprefix("file://")))
    backend.release.set()
    evaluator = Evaluator()
    d = Delivery(evaluator, store=pub.url, channel="prod", backend=backend, poll_interval=POLL,
                 min_refresh_interval=0, push=False).start()
    try:
        backend.release.clear()
        backend.entered.clear()
        pub.publish(2)
        assert backend.entered.wait(10)  # the poller is inside refresh(), holding its lock

        def child() -> dict[str, Any]:
            assert d.refresh()  # would wait for ever on the parent's refresh lock
            return {"n": evaluator.get_int("t.n", 0), "forked_from": d.status().forked_from}

        _, answer = in_child(child)
        got = answer()
        assert got == {"n": 2, "forked_from": os.getpid()}
    finally:
        backend.release.set()
        d.close()
    assert evaluator.get_int("t.n", 0) == 2


_WORKER_CLIENT: Client | None = None


def _served_after(version: int) -> tuple[int, int | None, int]:
    """A pool task: what this worker serves once it has caught up with `version`."""
    assert _WORKER_CLIENT is not None
    c = _WORKER_CLIENT
    wait_until(lambda: c.get_int("t.n", 0) >= version, timeout=20, what=f"worker to serve {version}")
    st = c.delivery_status()
    assert st is not None
    return c.get_int("t.n", 0), st.forked_from, os.getpid()


def test_prefork_pool_workers_follow_publishes(pub: Publisher, client: Client) -> None:
    """multiprocessing's fork context, as celery's prefork pool forks its workers."""
    global _WORKER_CLIENT
    _WORKER_CLIENT = client
    try:
        with multiprocessing.get_context("fork").Pool(2) as pool:
            pub.publish(2)
            results = pool.map(_served_after, [2] * 4, chunksize=1)
            pool.close()
            pool.join()
    finally:
        _WORKER_CLIENT = None
    assert {n for n, _, _ in results} == {2}
    assert {parent for _, parent, _ in results} == {os.getpid()}
    assert all(pid != os.getpid() for _, _, pid in results)


def test_a_closed_delivery_is_not_restarted(pub: Publisher) -> None:
    pub.publish(1)
    c = Client(store=pub.url, channel="prod", poll_interval=POLL, push=False)
    c.close()

    def child() -> dict[str, Any]:
        return {"threads": [t.name for t in threading.enumerate()],
                "forked_from": c.delivery.forked_from if c.delivery else "none"}

    _, answer = in_child(child)
    got = answer()
    assert "safeflags-poll-prod" not in got["threads"] and got["forked_from"] is None


APP = '''
import json, os
from safeflags.delivery import Client

client = Client(store=os.environ["SF_TEST_STORE"], channel="prod", poll_interval=0.05, min_refresh_interval=0,
                push=False)


def app(environ, start_response):
    st = client.delivery_status()
    body = json.dumps({"n": client.get_int("t.n", 0), "pid": os.getpid(), "forked_from": st.forked_from}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
'''


def test_gunicorn_preload_workers_follow_publishes(pub: Publisher, tmp_path: Path) -> None:
    """The app (and its client) loaded once in gunicorn's master, then forked into workers."""
    pytest.importorskip("gunicorn")
    import subprocess
    import sys
    import urllib.request

    from tests.helpers.s3server import free_ports

    pub.publish(1)
    (tmp_path / "app.py").write_text(APP)
    port = free_ports(1)[0]
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "SF_TEST_STORE": pub.url, "PYTHONPATH": str(root)}
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "--preload", "--workers", "2", "--bind",
                             f"127.0.0.1:{port}", "--chdir", str(tmp_path), "app:app"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def ask() -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as resp:
                answer: dict[str, Any] = json.loads(resp.read())
                return answer
        except OSError:
            return None

    try:
        wait_until(lambda: ask() is not None, timeout=30, what="gunicorn to answer")
        pub.publish(2)
        # Every answer, from whichever worker, catches up: 20 in a row serve version 2.
        wait_until(lambda: all((a := ask()) is not None and a["n"] == 2 for _ in range(20)), timeout=30,
                   what="every worker to serve version 2")
        answers = [a for a in (ask() for _ in range(10)) if a is not None]
        assert answers and all(a["forked_from"] == proc.pid and a["pid"] != proc.pid for a in answers)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        assert proc.stderr is not None
        proc.stderr.close()
