"""Chaos: one test per delivery fault class, through a fault-injecting proxy.

While a fault lasts, every evaluation serves the last good values (zero
exceptions, 100 % served) and the fault is counted; once it ends, the
client's next refresh serves the newest version.

No assertion here is about speed: they say what happened and in which
order, never how long it took. A timeout is either the fault itself (a store
that never answers is slower than any timeout) or an upper bound far beyond
a loopback round trip on a loaded machine, there only to stop a hung test.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from safeflags.delivery import Client, DeliveryStatus, start_delivery
from safeflags.serve import FlagServer
from safeflags.store import open_store
from safeflags.store.http import HttpBackend
from safeflags.store.layout import pointer_key
from tests.chaos.proxy import DRIP_GAP, HOLD, FaultProxy
from tests.helpers.bundles import numbered
from tests.helpers.delivery import Hammer, Publisher
from tests.helpers.waiting import wait_until

# The client's poll interval, with no minimum gap between refreshes (the default gap of 1 s, tested in
# tests/delivery/test_push_coalescing.py, would make every fault and every recovery here a second long):
# each fault is a refresh, and a fault class is the same whether its refreshes come 1 s or 50 ms apart.
POLL = 0.05
# A read that takes this long is a hang, not a slow machine.
HANG = 10.0
# In "delay" mode the store never answers (the proxy holds each request for
# HOLD seconds): any timeout below that is the fault. This one is still far
# above a loopback round trip, so a request after the fault ends never hits it.
SLOW = 1.0
# The client's deadline for one whole answer in "trickle" mode, which drips
# forever: the deadline is the only way out, however loaded the machine.
DRIP_DEADLINE = 1.0
assert SLOW < HOLD and DRIP_GAP < DRIP_DEADLINE < HANG


@dataclass
class Rig:
    pub: Publisher
    server: FlagServer
    proxy: FaultProxy

    def client(self, *, timeout: float = HANG, deadline: float | None = None,
               cold_start: Path | None = None) -> Client:
        """A client on the proxy: `timeout` bounds each read, `deadline` one whole answer."""
        client = Client()
        backend = HttpBackend(self.proxy.url, timeout=timeout, total_timeout=deadline)
        client.delivery = start_delivery(client, store=self.proxy.url, channel="prod", poll_interval=POLL,
                                         min_refresh_interval=0, timeout=timeout, push=False,
                                         public_key=self.pub.public_pem, cold_start=cold_start, backend=backend)
        return client


@contextlib.contextmanager
def rigged(signed: Publisher, data: bytes | None = None) -> Iterator[Rig]:
    """Version 1 (`data`, else the numbered bundle) published, served, and behind a FaultProxy."""
    signed.publish(1, data=data)
    server = FlagServer(open_store(signed.url), watch_interval=0.02, heartbeat=0.5).start()
    proxy = FaultProxy(server.url).start()
    rig = Rig(signed, server, proxy)
    try:
        yield rig
    finally:
        proxy.close()
        rig.server.close()


@pytest.fixture
def rig(signed: Publisher) -> Iterator[Rig]:
    with rigged(signed) as rig:
        yield rig


def status(client: Client) -> DeliveryStatus:
    st = client.delivery_status()
    assert st is not None
    return st


def ride_out(client: Client, good: int, kind: str, faults: int = 3) -> None:
    """Evaluate non-stop until the fault was seen `faults` times, one of them at least while
    evaluating (refreshes come so fast that all of them could land before the first evaluation);
    all must serve `good`."""
    def seen() -> int:
        st = status(client)
        if kind in st.faults:
            return st.faults[kind]
        # A kind can also be a phrase of the message, e.g. "too slow".
        return st.faults.get("unavailable", 0) if kind in (st.last_error or "") else 0

    with Hammer(client, expect=good) as hammer:
        before = seen()
        wait_until(lambda: seen() >= max(faults, before + 1) and hammer.served > 0, timeout=60,
                   what=f"{faults} {kind} faults, one while evaluating")
    assert (hammer.errors, hammer.wrong) == (0, 0) and hammer.served > 0
    st = status(client)
    assert not st.healthy and kind in (st.last_error or "")
    assert st.version == good or st.origin == "cold_start"  # a cold-start bundle has no version


def recovers(client: Client, proxy: FaultProxy, newest: int) -> None:
    """The fault ends; the client's next refresh serves `newest`, in one step."""
    updates = status(client).updates  # no update can land while the fault lasts
    proxy.set("ok")
    failed = sum(status(client).faults.values())
    wait_until(lambda: client.get_int("t.n", 0) == newest, timeout=60, what=f"version {newest}")
    st = status(client)
    assert st.healthy and (st.version, st.origin) == (newest, "store")
    # Straight from the good version to the newest: nothing in between was served...
    assert st.updates == updates + 1
    # ...and no refresh begun after the fault ended failed: only one already
    # under way when it ended may still have (a client never stays broken).
    assert sum(st.faults.values()) <= failed + 1, st.faults


@pytest.mark.parametrize(("mode", "kind", "timeout", "faults"), [
    pytest.param("drop", "unavailable", HANG, 3, id="drop"),
    pytest.param("delay", "unavailable", SLOW, 2, id="delay"),
    pytest.param("5xx", "unavailable", HANG, 3, id="5xx"),
    pytest.param("truncate", "unavailable", HANG, 3, id="truncate"),
    pytest.param("corrupt", "digest_mismatch", HANG, 3, id="corrupt"),
    pytest.param("bad_signature", "bad_signature", HANG, 3, id="bad_signature"),
])
def test_fault_class(rig: Rig, mode: str, kind: str, timeout: float, faults: int) -> None:
    with rig.client(timeout=timeout) as client:
        assert client.get_int("t.n", 0) == 1
        rig.proxy.set(mode)
        rig.pub.publish(2)  # published while the fault lasts
        ride_out(client, 1, kind, faults)
        recovers(client, rig.proxy, 2)


def test_slow_drip_download(rig: Rig) -> None:
    """Each read arrives well within the read timeout, the whole never does:
    the client gives up at its deadline for a whole answer, reports it as
    too slow, and keeps serving.

    The drip never completes and each byte comes long before a read could
    time out, so the deadline is the only way the download can end, on an
    idle machine or a loaded one."""
    with rig.client(deadline=DRIP_DEADLINE) as client:
        rig.proxy.set("trickle")
        rig.pub.publish(2)
        ride_out(client, 1, "too slow", faults=2)
        assert set(status(client).faults) == {"unavailable"}  # and ride_out saw "too slow" last
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
        assert status(client).origin == "cold_start"
        ride_out(client, 1, "unavailable", faults=2)
        recovers(client, rig.proxy, 2)
