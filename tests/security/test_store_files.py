"""Attacks on a directory store's files: a directory, FIFO or device where a
pointer or bundle should be, a pointer in a format nobody knows, files the
process may not read, and leftovers of killed writes.

Each is an error or a counted fault, never a hang, a loop, a traceback or a
silently served pointer. The timeouts only stop a test that hangs; nothing
here asserts how long anything took.
"""
from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from safeflags.cli.main import cli
from safeflags.delivery import Client
from safeflags.store import (
    AccessDenied,
    NotRegularFile,
    StoreError,
    bundle_key,
    digest_of,
    open_store,
    pointer_key,
)
from safeflags.store.errors import UnsupportedFormat
from tests.helpers.bundles import numbered
from tests.helpers.delivery import Publisher

pytestmark = pytest.mark.timeout(60)


def _store(tmp_path: Path) -> Path:
    return tmp_path / "store"


def _client(pub: Publisher) -> Client:
    return Client(store=pub.url, channel="prod", poll_interval=3600, push=False)


def _faults(client: Client) -> dict[str, int]:
    st = client.delivery_status()
    assert st is not None
    return dict(st.faults)


def test_directory_for_a_pointer_is_an_error_for_every_writer(pub: Publisher, tmp_path: Path) -> None:
    pub.publish(1)
    pub.publish(2)
    path = _store(tmp_path) / pointer_key("prod")
    path.unlink()
    path.mkdir()
    for write in (lambda: pub.store.publish(numbered(3), "prod"), lambda: pub.store.rollback("prod"),
                  lambda: pub.store.unpin("prod"), lambda: pub.store.pin("prod", 1)):
        with pytest.raises(NotRegularFile, match=r"channels/prod\.json is a directory, not a regular file"):
            write()
    with pytest.raises(NotRegularFile):
        pub.store.pointer("prod")


def test_fifo_for_a_pointer_is_a_fault_not_a_wedged_poller(pub: Publisher, tmp_path: Path) -> None:
    pub.publish(1)
    with _client(pub) as client:
        path = _store(tmp_path) / pointer_key("prod")
        path.unlink()
        os.mkfifo(path)  # nobody ever writes to it: a blocking read would wait forever
        assert client.refresh() is False
        st = client.delivery_status()
        assert st is not None and not st.healthy and st.faults == {"special_file": 1}
        assert "is a FIFO, not a regular file" in (st.last_error or "")
        assert client.get_int("t.n", 0) == 1
        with pytest.raises(NotRegularFile, match="FIFO"):
            pub.store.publish(numbered(2), "prod")


def test_fifo_or_device_for_a_bundle_is_a_fault(pub: Publisher, tmp_path: Path) -> None:
    pub.publish(1)
    with _client(pub) as client:
        pub.publish(2)
        path = _store(tmp_path) / bundle_key(digest_of(numbered(2)))
        path.unlink()
        os.mkfifo(path)
        assert client.refresh() is False
        assert _faults(client) == {"special_file": 1}
        path.unlink()
        path.symlink_to("/dev/zero")  # endless, and no regular file either
        assert client.refresh() is False
        assert _faults(client) == {"special_file": 2} and client.get_int("t.n", 0) == 1
        with pytest.raises(NotRegularFile, match="a device"):
            pub.store.put_bundle(numbered(2))


def test_pointer_in_an_unknown_format_is_a_fault_and_never_rewritten(pub: Publisher, tmp_path: Path) -> None:
    pub.publish(1)
    with _client(pub) as client:
        pub.publish(2)
        path = _store(tmp_path) / pointer_key("prod")
        newer = json.loads(path.read_bytes()) | {"format": 99}
        path.write_text(json.dumps(newer))
        assert client.refresh() is False
        st = client.delivery_status()
        assert st is not None and st.faults == {"unknown_format": 1} and not st.healthy
        assert "pointer format 99" in (st.last_error or "") and client.get_int("t.n", 0) == 1
    for write in (lambda: pub.store.publish(numbered(3), "prod"), lambda: pub.store.rollback("prod")):
        with pytest.raises(UnsupportedFormat, match="format 99"):
            write()
    assert json.loads(path.read_bytes())["format"] == 99  # what the newer writer wrote stands


def _deny(monkeypatch: pytest.MonkeyPatch, needle: str) -> None:
    """Every open of a path containing `needle` fails as for a file the process may not read
    (the tests run as root, for whom a chmod denies nothing)."""
    real_os, real_io = os.open, io.open

    def check(path: object) -> None:
        if isinstance(path, (str, os.PathLike)) and needle in os.fspath(path):
            raise PermissionError(13, "Permission denied", os.fspath(path))

    def fake_os(path: str | os.PathLike[str], flags: int, *args: int, **kwargs: object) -> int:
        check(path)
        return real_os(path, flags, *args, **kwargs)  # type: ignore[arg-type]

    def fake_io(path: object, *args: object, **kwargs: object) -> object:
        check(path)
        return real_io(path, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(os, "open", fake_os)
    monkeypatch.setattr(io, "open", fake_io)


def test_unreadable_store_file_is_access_denied(pub: Publisher, monkeypatch: pytest.MonkeyPatch) -> None:
    pub.publish(1)
    _deny(monkeypatch, "channels/prod.json")
    with pytest.raises(AccessDenied, match=r"permission denied: .*channels/prod\.json"):
        open_store(pub.url).pointer("prod")


@pytest.mark.parametrize("needle", ["channels/prod.json", "b1.pb"])
def test_permission_errors_are_one_line_cli_errors(pub: Publisher, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   needle: str) -> None:
    """From the store (the pointer) or from the command itself (the bundle file to publish)."""
    pub.publish(1)
    bundle = tmp_path / "b1.pb"
    bundle.write_bytes(numbered(2))
    _deny(monkeypatch, needle)
    result = CliRunner().invoke(cli, ["publish", str(bundle), "--store", pub.url, "--channel", "prod"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("safeflags: error: permission denied: ")
    assert needle in lines[0] and "Traceback" not in result.stderr and "internal error" not in result.stderr


def test_gc_removes_stale_temporary_files_only(pub: Publisher, tmp_path: Path) -> None:
    pub.publish(1)
    root = _store(tmp_path)
    old, young = time.time() - 2 * 3600, time.time()
    leftovers = [root / "bundles" / ".tmp-sha256-dead.pb.x1", root / "channels" / ".tmp-prod.json.x2"]
    for path in leftovers:
        path.write_bytes(b"half a write")
        os.utime(path, (old, old))
    fresh = root / "bundles" / ".tmp-sha256-live.pb.x3"  # a write in flight
    fresh.write_bytes(b"being written")
    os.utime(fresh, (young, young))
    result = CliRunner().invoke(cli, ["gc", "--store", pub.url, "--keep", "1"])
    assert result.exit_code == 0, result.output
    assert "removed 2 leftover(s) of interrupted writes" in result.stdout
    assert [p.exists() for p in leftovers] == [False, False] and fresh.exists()
    assert open_store(pub.url).pointer("prod").version == 1


def test_dry_run_gc_removes_nothing(pub: Publisher, tmp_path: Path) -> None:
    pub.publish(1)
    leftover = _store(tmp_path) / "bundles" / ".tmp-x"
    leftover.write_bytes(b"")
    os.utime(leftover, (0, 0))
    assert pub.store.gc(keep=1, dry_run=True).swept == [] and leftover.exists()
    assert pub.store.gc(keep=1).swept == ["bundles/.tmp-x"] and not leftover.exists()


def test_a_second_gc_is_refused_while_one_runs(pub: Publisher) -> None:
    from safeflags.store.gc import STATE_KEY

    pub.publish(1)
    body = json.dumps({"id": "other", "started": "now", "updated": time.time(), "condemned": []}).encode()
    pub.store.backend.put(STATE_KEY, body, if_absent=True)
    with pytest.raises(StoreError, match="another gc is running"):
        pub.store.gc(keep=1)
    # One left by a gc that died long ago is taken over.
    stale = json.dumps({"id": "dead", "started": "then", "updated": 0, "condemned": ["x"]}).encode()
    pub.store.backend.put(STATE_KEY, stale)
    pub.store.gc(keep=1)
    assert pub.store.backend.get(STATE_KEY) is None
