"""Chaos: one test per delivery fault class, through a fault-injecting proxy.

While a fault lasts, every evaluation serves the last good values (zero
exceptions, 100 % served) and the fault is counted; within one poll interval
after it ends, the client serves the newest version.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from safeflags.delivery import Client
from safeflags.serve import FlagServer
from safeflags.store import open_store
from safeflags.store.layout import pointer_key
from tests.chaos.proxy import FaultProxy
from tests.helpers.bundles import numbered
from tests.helpers.delivery import Hammer, Publisher
from tests.helpers.waiting import wait_until

POLL = 0.2  # the client's poll interval
TIMEOUT = 0.5  # the client's request timeout: a slower store is a fault
# Recovery is "within one poll interval" plus one fetch: on a loaded 2-core
# machine a fetch and a snapshot build can take a few tens of milliseconds.
SLACK = 0.4


@dataclass
class Rig:
    pub: Publisher
    server: FlagServer
    proxy: FaultProxy

    def client(self, **kw: object) -> Client:
        return Client(store=self.proxy.url, channel="prod", poll_interval=POLL, timeout=TIMEOUT,
                      push=False, public_key=self.pub.public_pem, **kw)  # type: ignore[arg-type]


@pytest.fixture
def rig(signed: Publisher) -> Iterator[Rig]:
    signed.publish(1)
    server = FlagServer(open_store(signed.url), watch_interval=0.02, heartbeat=0.5).start()
    proxy = FaultProxy(server.url).start()
    rig = Rig(signed, server, proxy)
    try:
        yield rig
    finally:
        proxy.close()
        rig.server.close()


def ride_out(client: Client, good: int, kind: str, faults: int = 3) -> None:
    """Evaluate non-stop until the fault was seen `faults` times; all must serve `good`."""
    def seen() -> int:
        st = client.delivery_status()
        assert st is not None
        if kind in st.faults:
            return st.faults[kind]
        # A kind can also be a phrase of the message, e.g. "too slow".
        return st.faults.get("unavailable", 0) if kind in (st.last_error or "") else 0

    with Hammer(client, expect=good) as hammer:
        wait_until(lambda: seen() >= faults, timeout=15, what=f"{faults} {kind} faults")
    assert (hammer.errors, hammer.wrong) == (0, 0) and hammer.served > 0
    st = client.delivery_status()
    assert st is not None and not st.healthy and kind in (st.last_error or "")
    assert st.version == good or st.origin == "cold_start"  # a cold-start bundle has no version


def recovers(client: Client, proxy: FaultProxy, newest: int) -> float:
    proxy.set("ok")
    took = wait_until(lambda: client.get_int("t.n", 0) == newest, timeout=10, what=f"version {newest}")
    assert took <= POLL + SLACK, f"took {took:.3f}s to recover"
    assert client.delivery_status().healthy  # type: ignore[union-attr]
    return took


@pytest.mark.parametrize(("mode", "kind"), [
    ("drop", "unavailable"),
    ("delay", "unavailable"),
    ("5xx", "unavailable"),
    ("truncate", "unavailable"),
    ("corrupt", "digest_mismatch"),
    ("bad_signature", "bad_signature"),
])
def test_fault_class(rig: Rig, mode: str, kind: str) -> None:
    with rig.client() as client:
        assert client.get_int("t.n", 0) == 1
        rig.proxy.set(mode)
        rig.pub.publish(2)  # published while the fault lasts
        ride_out(client, 1, kind)
        recovers(client, rig.proxy, 2)


def test_slow_drip_download(rig: Rig) -> None:
    """Each read arrives within the timeout, the whole never does: the
    client gives up after 6 x timeout and keeps serving."""
    with rig.client() as client:
        rig.proxy.set("trickle")
        rig.pub.publish(2)
        ride_out(client, 1, "too slow", faults=1)
        recovers(client, rig.proxy, 2)


def test_old_version_replayed(rig: Rig) -> None:
    rig.proxy.old_pointer = rig.pub.store.backend.get(pointer_key("prod")).data  # type: ignore[union-attr]
    rig.pub.publish(2)
    with rig.client() as client:
        wait_until(lambda: client.get_int("t.n", 0) == 2, what="version 2")
        rig.proxy.set("old_version")
        rig.pub.publish(3)
        ride_out(client, 2, "replay")
        recovers(client, rig.proxy, 3)


def test_store_killed_mid_download(rig: Rig) -> None:
    with rig.client() as client:
        rig.proxy.set("stall")
        rig.pub.publish(2)
        wait_until(rig.proxy.stalled.is_set, what="a download in progress")
        rig.server.close()  # the store dies with half the bundle sent
        rig.proxy.released.set()
        ride_out(client, 1, "unavailable")
        rig.server = FlagServer(open_store(rig.pub.url), watch_interval=0.02).start()
        rig.proxy.upstream = rig.server.url
        recovers(client, rig.proxy, 2)


def test_start_with_the_store_down_and_only_a_cold_start_bundle(rig: Rig, tmp_path: Path) -> None:
    cold = tmp_path / "cold-start.pb"
    cold.write_bytes(numbered(1))
    rig.pub.publish(2)
    rig.proxy.set("drop")
    with rig.client(cold_start=cold) as client:
        st = client.delivery_status()
        assert st is not None and st.origin == "cold_start"
        ride_out(client, 1, "unavailable", faults=2)
        recovers(client, rig.proxy, 2)
        assert client.delivery_status().origin == "store"  # type: ignore[union-attr]
