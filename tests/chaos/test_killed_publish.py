"""Chaos: a publish killed (or stalled) after it claimed a version and
before the pointer moved. Nobody else ever applies its claim: the next
writer abandons it, `history` says so, a rollback lands where the served
version says, and a publisher that was only slow claims again.

Staleness is set per test (`claim_timeout`) so no test waits on the clock
to tell a dead publisher from a live one.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from safeflags.cli.main import cli
from safeflags.store import BundleStore, Pointer, Record, StoreError, digest_of, open_store
from safeflags.store import gc as gc_module
from tests.helpers.bundles import numbered

CHANNEL = "prod"


def _publish_then_die(url: str, n: int) -> None:
    """In a child process: publish bundle n and be killed right after the claim is written."""
    def die(*args: object, **kwargs: object) -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    gc_module.hold = die  # the first step after the claim, before the pointer moves
    open_store(url, create=True).publish(numbered(n), CHANNEL)


def killed_publish(url: str, n: int) -> None:
    proc = multiprocessing.get_context("spawn").Process(target=_publish_then_die, args=(url, n))
    proc.start()
    proc.join(120)
    assert proc.exitcode == -signal.SIGKILL


@pytest.fixture
def url(tmp_path: Path) -> str:
    url = f"file://{tmp_path / 'store'}"
    store = open_store(url, create=True)
    for n in (1, 2, 3):
        store.publish(numbered(n), CHANNEL)
    return url


def states(store: BundleStore) -> list[tuple[int, bool]]:
    return [(r.version, r.abandoned) for r in store.history(CHANNEL)]


def test_rollback_after_a_killed_publish_lands_before_the_served_version(url: str) -> None:
    killed_publish(url, 4)
    store = open_store(url)
    assert store.record(CHANNEL, 4) is not None and store.pointer(CHANNEL).version == 3  # claimed, not applied
    store.claim_timeout = 0  # the claim is dead: abandon it at once
    ptr = store.rollback(CHANNEL)
    assert (ptr.version, ptr.pinned, ptr.latest, ptr.abandoned) == (2, True, 3, 4)
    assert states(store) == [(1, False), (2, False), (3, False), (4, True)]
    assert store.unpin(CHANNEL).version == 3  # the latest *published* version, never the dead claim
    rec, ptr = store.publish(numbered(5), CHANNEL)
    assert (rec.version, ptr.version) == (5, 5)
    for marked in (True, False):  # by its mark, or by the pointer alone (the mark is written after the swap)
        if not marked:
            store.backend.delete("abandoned/prod/0000000004.json")
        with pytest.raises(StoreError, match="version 4 of 'prod' was abandoned"):
            store.pin(CHANNEL, 4)
    assert store.rollback(CHANNEL).version == 3  # from 5, over the abandoned 4


def test_history_shows_the_killed_publish_as_abandoned(url: str) -> None:
    killed_publish(url, 4)
    store = open_store(url)
    store.claim_timeout = 0
    store.publish(numbered(5), CHANNEL)
    result = CliRunner().invoke(cli, ["history", "--store", url, "--channel", CHANNEL])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if line.startswith("4 "))
    assert "abandoned: its publish never finished" in row
    assert "serving" in next(line for line in result.stdout.splitlines() if line.startswith("5 "))


def test_next_publish_waits_out_a_fresh_claim_then_abandons_it(url: str) -> None:
    killed_publish(url, 4)
    store = open_store(url)
    store.claim_timeout = 0.2  # seen unapplied this long by this process: its publisher is gone
    rec, ptr = store.publish(numbered(5), CHANNEL)
    assert (rec.version, ptr.version, ptr.abandoned) == (5, 5, 4)
    assert states(store)[-2:] == [(4, True), (5, False)]


def test_killed_first_publish_of_a_new_channel(tmp_path: Path) -> None:
    url = f"file://{tmp_path / 'store'}"
    killed_publish(url, 1)
    store = open_store(url)
    store.claim_timeout = 0
    rec, ptr = store.publish(numbered(2), CHANNEL)
    assert (rec.version, ptr.version, ptr.abandoned) == (2, 2, 1)
    assert states(store) == [(1, True), (2, False)]


class Paused:
    """Stops one thread right after its claim is written, until released."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.thread: threading.Thread | None = None
        self.claimed = threading.Event()
        self.go = threading.Event()
        real = gc_module.hold

        def hold(*args: Any, **kwargs: Any) -> None:
            if threading.current_thread() is self.thread and not self.claimed.is_set():
                self.claimed.set()
                assert self.go.wait(60)
            real(*args, **kwargs)

        monkeypatch.setattr(gc_module, "hold", hold)

    def publish(self, url: str, n: int) -> Callable[[], tuple[Record, Pointer]]:
        out: list[tuple[Record, Pointer]] = []
        self.thread = threading.Thread(target=lambda: out.append(open_store(url).publish(numbered(n), CHANNEL)))
        self.thread.start()
        assert self.claimed.wait(60)

        def finish() -> tuple[Record, Pointer]:
            self.go.set()
            assert self.thread is not None
            self.thread.join(60)
            return out[0]
        return finish


@pytest.fixture
def paused(monkeypatch: pytest.MonkeyPatch) -> Iterator[Paused]:
    p = Paused(monkeypatch)
    yield p
    p.go.set()


def test_stalled_publisher_whose_claim_was_abandoned_claims_again(url: str, paused: Paused) -> None:
    finish = paused.publish(url, 4)  # claims 4, then stalls
    other = open_store(url)
    other.claim_timeout = 0  # sees the stalled claim as dead
    rec5, _ = other.publish(numbered(5), CHANNEL)
    assert rec5.version == 5
    rec, ptr = finish()
    # The stalled publisher found its claim abandoned and published as version 6.
    assert (rec.version, ptr.version, ptr.digest) == (6, 6, digest_of(numbered(4)))
    store = open_store(url)
    assert states(store) == [(1, False), (2, False), (3, False), (4, True), (5, False), (6, False)]


def test_fresh_claim_is_left_to_its_publisher(url: str, paused: Paused) -> None:
    finish = paused.publish(url, 4)
    other = open_store(url)
    other.claim_timeout = 3600  # a live publisher: not to be abandoned
    ptr = other.rollback(CHANNEL)
    assert (ptr.version, ptr.latest, ptr.abandoned) == (2, 3, 0)  # the claim did not move the rollback
    rec, ptr = finish()
    # Applied by its own publisher; the rollback's pin holds.
    assert (rec.version, ptr.version, ptr.latest, ptr.pinned) == (4, 2, 4, True)
    assert other.unpin(CHANNEL).version == 4
    assert not any(abandoned for _, abandoned in states(other))
