"""The health gate: a real publish of two versions, a running client, a failing check, the rollback.

Bakes run on a fake clock (the sleep advances it), so no test waits on wall
time; only the client's catching up with the store is waited for, with wait_until."""
from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

import safeflags
from safeflags.cli import watch_cmd
from safeflags.cli.main import cli
from safeflags.ops.watch import CheckResult, Plan, command_check, tail, url_check, watch
from safeflags.store import StoreError, open_store
from tests.helpers.bundles import numbered
from tests.helpers.delivery import new_keypair
from tests.helpers.waiting import wait_until

POLL = 0.05


class FakeTime:
    """A monotonic clock that only the sleep moves."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def sf(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def publish_two(tmp_path: Path, *extra: object) -> str:
    """Versions 1 and 2 of `prod`, published by `safeflags publish` to a file store."""
    url = f"file://{tmp_path / 'store'}"
    for n in (1, 2):
        bundle = tmp_path / f"b{n}.pb"
        bundle.write_bytes(numbered(n))
        code, out, err = sf("publish", bundle, "--store", url, "--channel", "prod", *extra)
        assert code == 0, err
        assert f"published version {n} of 'prod'" in out
    return url


class Status(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        code, body = self.server.answer  # type: ignore[attr-defined]
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def health() -> Iterator[http.server.ThreadingHTTPServer]:
    """A local health endpoint; set `.answer` to (status, body)."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Status)
    srv.answer = (200, b"ok\n")  # type: ignore[attr-defined]
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(5)


def endpoint(srv: http.server.ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{srv.server_address[1]}/healthz"


@pytest.mark.parametrize("kind", ["cmd", "url"])
def test_a_failing_check_rolls_back_and_the_running_client_follows(
        kind: str, tmp_path: Path, health: http.server.ThreadingHTTPServer, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("SAFEFLAGS_ACTOR", raising=False)
    monkeypatch.setenv("GITHUB_ACTOR", "release-bot")
    url = publish_two(tmp_path)
    health.answer = (500, b"starting\ndatabase pool exhausted\n")  # type: ignore[attr-defined]
    check = "echo starting; echo 'database pool exhausted' >&2; exit 1" if kind == "cmd" else endpoint(health)
    fake = FakeTime()
    with safeflags.Client(store=url, channel="prod", poll_interval=POLL, min_refresh_interval=POLL) as client:
        wait_until(lambda: client.get_int("t.n", 0) == 2, what="the client serving version 2")
        code = watch_cmd.run(url, "prod", check, 600.0, interval=30.0, failures=2,
                             clock=fake.clock, sleep=fake.sleep)
        assert code == 1
        wait_until(lambda: client.get_int("t.n", 0) == 1 and client.get_string("t.name", "") == "v1",
                   what="the client back on version 1")
    out = capsys.readouterr().out
    assert "rolled back channel 'prod' from version 2 to version 1" in out
    assert "check 1/20 at 30s: FAILED" in out and "check 2/20 at 1m: FAILED" in out and "check 3/" not in out
    assert fake.sleeps == [30.0, 30.0]
    st = open_store(url)
    ptr = st.pointer("prod")
    assert (ptr.version, ptr.pinned, ptr.latest) == (1, True, 2)
    [event] = st.events("prod")
    assert (event.action, event.from_version, event.version, event.by) == ("rollback", 2, 1, "release-bot")
    assert check in event.reason and "failed 2 time(s) in a row" in event.reason
    assert ("exit 1" if kind == "cmd" else "HTTP 500") in event.reason
    assert "database pool exhausted" in event.reason


@pytest.mark.parametrize("kind", ["cmd", "url"])
def test_a_healthy_bake_exits_0_and_changes_nothing(
        kind: str, tmp_path: Path, health: http.server.ThreadingHTTPServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    url = publish_two(tmp_path)
    before = open_store(url).backend.get("channels/prod.json")
    fake = FakeTime()
    check = "exit 0" if kind == "cmd" else endpoint(health)
    assert watch_cmd.run(url, "prod", check, 300.0, interval=60.0, clock=fake.clock, sleep=fake.sleep) == 0
    out = capsys.readouterr().out
    assert "bake passed: version 2 of 'prod' was healthy in 5 of 5 check(s) over 5m" in out
    assert fake.sleeps == [60.0] * 5
    st = open_store(url)
    after = st.backend.get("channels/prod.json")
    assert before is not None and after is not None and after.data == before.data
    assert st.events("prod") == []


def test_failures_must_be_consecutive(tmp_path: Path) -> None:
    st = open_store(publish_two(tmp_path))
    answers = iter([False, True, False, True, False, False])
    fake = FakeTime()
    outcome = watch(st, "prod", lambda: CheckResult(next(answers), "scripted"), Plan(600, 60, failures=2),
                    check_text="scripted", clock=fake.clock, sleep=fake.sleep)
    assert [r.number for r in outcome.runs] == [1, 2, 3, 4, 5, 6] and outcome.rolled_back is not None
    assert outcome.rolled_back.version == 1 and "failed 2 time(s) in a row" in outcome.reason
    assert [r.at for r in outcome.runs] == [60, 120, 180, 240, 300, 360]


def test_a_slow_check_is_followed_at_once_and_the_bake_still_ends(tmp_path: Path) -> None:
    st = open_store(publish_two(tmp_path))
    fake = FakeTime()

    def slow() -> CheckResult:
        fake.now += 150  # outlasts two slots
        return CheckResult(True, "exit 0")

    outcome = watch(st, "prod", slow, Plan(600, 60), check_text="slow", clock=fake.clock, sleep=fake.sleep)
    assert [r.at for r in outcome.runs] == [60, 210, 360, 510] and outcome.rolled_back is None


def test_a_version_published_during_the_bake_is_not_rolled_back(tmp_path: Path) -> None:
    url = publish_two(tmp_path)
    st = open_store(url)
    fake = FakeTime()

    def meanwhile() -> CheckResult:
        st.publish(numbered(3), "prod")
        return CheckResult(False, "exit 1")

    with pytest.raises(StoreError, match="serves version 3 now, not 2: not rolled back"):
        watch(st, "prod", meanwhile, Plan(60, 60, failures=1), check_text="x", clock=fake.clock, sleep=fake.sleep)
    ptr = st.pointer("prod")
    assert (ptr.version, ptr.pinned) == (3, False) and st.events("prod") == []


def test_nothing_to_roll_back_to_is_a_store_error(tmp_path: Path) -> None:
    url = f"file://{tmp_path / 'store'}"
    st = open_store(url, create=True)
    st.publish(numbered(1), "prod")
    fake = FakeTime()
    with pytest.raises(StoreError, match="nothing to roll back to"):
        watch_cmd.run(url, "prod", "exit 1", 60.0, failures=1, clock=fake.clock, sleep=fake.sleep)
    assert st.pointer("prod").version == 1 and not st.pointer("prod").pinned and st.events("prod") == []


def test_a_signed_channel_rolls_back_with_the_key_and_the_client_follows(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cryptography.hazmat.primitives import serialization

    key, public_pem = new_keypair()
    pem = tmp_path / "key.pem"
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    url = publish_two(tmp_path, "--sign-key", pem)
    # Without the key the rollback would be refused by every client: refused before the bake.
    code, _, err = sf("watch", "--store", url, "--channel", "prod", "--check", "exit 1", "--bake", "1h")
    assert code == 2 and "has a signed state" in err and "--sign-key" in err
    fake = FakeTime()
    with safeflags.Client(store=url, channel="prod", poll_interval=POLL, min_refresh_interval=POLL,
                          public_key=public_pem) as client:
        wait_until(lambda: client.get_int("t.n", 0) == 2, what="the client serving version 2")
        code = watch_cmd.run(url, "prod", "exit 3", 60.0, interval=30.0, failures=1, sign_key=str(pem),
                             clock=fake.clock, sleep=fake.sleep)
        assert code == 1
        wait_until(lambda: client.get_int("t.n", 0) == 1, what="the client back on version 1")
    assert open_store(url).pointer("prod").state is not None
    assert "channel state signed" in capsys.readouterr().out


def test_command_line_errors_exit_2_before_any_check(tmp_path: Path) -> None:
    url = publish_two(tmp_path)
    s = ("--store", url, "--check", "exit 1")
    code, _, err = sf("watch", *s, "--channel", "prdo", "--bake", "10m")
    assert code == 2 and "channel 'prdo' does not exist" in err and "did you mean 'prod'" in err
    code, _, err = sf("watch", *s, "--channel", "prod", "--bake", "1m", "--interval", "2m")
    assert code == 2 and "longer than the bake" in err
    code, _, err = sf("watch", *s, "--channel", "prod", "--bake", "1m", "--interval", "30s", "--failures", "3")
    assert code == 2 and "3 consecutive failures can never happen in a bake of 2 check(s)" in err
    code, _, err = sf("watch", *s, "--channel", "prod", "--bake", "0m")
    assert code == 2 and "must be longer than 0" in err
    code, _, err = sf("watch", "--store", "https://flags.example.com/x", "--channel", "prod", "--check", "exit 1",
                      "--bake", "10m")
    assert code == 2 and "is read-only" in err
    assert open_store(url).events("prod") == []


def test_checks_report_what_they_saw(health: http.server.ThreadingHTTPServer) -> None:
    assert command_check("echo fine")() == CheckResult(True, "exit 0", "fine")
    slow = command_check("echo begun; sleep 30", timeout=0.2)()
    assert (slow.healthy, slow.summary, slow.output) == (False, "timed out after 0.2s", "begun")
    assert url_check(endpoint(health))() == CheckResult(True, "HTTP 200", "ok")
    health.answer = (503, b"draining")  # type: ignore[attr-defined]
    assert url_check(endpoint(health))() == CheckResult(False, "HTTP 503", "draining")
    gone = url_check("http://127.0.0.1:9/healthz", timeout=1)()
    assert not gone.healthy and gone.summary.startswith("unreachable")
    assert tail("\n".join(str(i) for i in range(100))) == "\n".join(str(i) for i in range(90, 100))
    assert tail("x" * 5000).startswith("...") and len(tail("x" * 5000)) == 803
