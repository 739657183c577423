"""Chaos: a store that answers with an endless or oversized body costs a
client at most its size limit, then a counted `too_large` fault, and the
client keeps serving. Over HTTP (through the fault proxy), from a directory
and from S3.

What is asserted is the mechanism: the fault's kind, that the client hung up
on a body that never ends, that a false Content-Length is refused before a
byte of the body is read; never how long anything took.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from safeflags.delivery import Client, DeliveryStatus, start_delivery
from safeflags.serve import FlagServer
from safeflags.store import (
    Limits,
    ObjectTooLarge,
    StoreError,
    bundle_key,
    digest_of,
    open_backend,
    open_store,
    pointer_key,
)
from safeflags.store.http import HttpBackend
from tests.chaos.proxy import BLOAT, HUGE, FaultProxy
from tests.helpers.bundles import numbered
from tests.helpers.delivery import Hammer, Publisher
from tests.helpers.waiting import wait_until

LIMIT = 1 << 20  # the clients' bundle limit here: far above a test bundle, far below what the faults send
HANG = 10.0  # a read that takes this long is a hang, not a slow machine
# Polls with no minimum gap between refreshes (1 s by default, tested in tests/delivery/test_push_coalescing.py):
# each fault is one refresh, whether refreshes come a second or 50 ms apart.
POLL = 0.05


@dataclass
class Rig:
    pub: Publisher
    server: FlagServer
    proxy: FaultProxy

    def client(self) -> Client:
        client = Client()
        backend = HttpBackend(self.proxy.url, timeout=HANG, limits=Limits(bundle=LIMIT))
        client.delivery = start_delivery(client, store=self.proxy.url, channel="prod", poll_interval=POLL,
                                         min_refresh_interval=0, timeout=HANG, push=False, backend=backend)
        return client


@pytest.fixture
def rig(pub: Publisher) -> Iterator[Rig]:
    pub.publish(1)
    server = FlagServer(open_store(pub.url), watch_interval=0.02, heartbeat=0.5).start()
    proxy = FaultProxy(server.url).start()
    try:
        yield Rig(pub, server, proxy)
    finally:
        proxy.close()
        server.close()


def status(client: Client) -> DeliveryStatus:
    st = client.delivery_status()
    assert st is not None
    return st


def ride_out(client: Client, good: int, kind: str, faults: int = 2) -> None:
    """Evaluate non-stop until `kind` was counted `faults` times, at least once of them while
    evaluating; every evaluation serves `good`."""
    def seen() -> int:
        return status(client).faults.get(kind, 0)

    with Hammer(client, expect=good) as hammer:
        before = seen()
        wait_until(lambda: seen() >= max(faults, before + 1) and hammer.served > 0, timeout=60,
                   what=f"{faults} {kind}, one while evaluating")
    assert (hammer.errors, hammer.wrong) == (0, 0) and hammer.served > 0
    st = status(client)
    assert not st.healthy and (st.version, st.origin) == (good, "store")
    assert st.last_error is not None and st.last_error.startswith(f"{kind}: ")


def recovers(client: Client, proxy: FaultProxy, newest: int) -> None:
    proxy.set("ok")
    wait_until(lambda: client.get_int("t.n", 0) == newest, timeout=60, what=f"version {newest}")
    assert status(client).healthy


def test_endless_bundle_download_stops_at_the_limit(rig: Rig) -> None:
    with rig.client() as client:
        rig.proxy.set("endless")
        rig.pub.publish(2)
        ride_out(client, 1, "too_large")
        assert f"larger than {LIMIT:,} bytes" in (status(client).last_error or "")
        # The client hung up instead of reading on: the proxy could not send any more.
        wait_until(rig.proxy.hung_up.is_set, timeout=60, what="the client to hang up")
        recovers(client, rig.proxy, 2)


def test_false_content_length_is_refused_unread(rig: Rig) -> None:
    with rig.client() as client:
        rig.proxy.set("huge")
        rig.pub.publish(2)
        ride_out(client, 1, "too_large")
        assert f"({HUGE:,} bytes)" in (status(client).last_error or "")  # refused on the header alone
        recovers(client, rig.proxy, 2)


def test_bloated_pointer_is_refused(rig: Rig) -> None:
    with rig.client() as client:
        rig.proxy.set("bloated")
        rig.pub.publish(2)
        ride_out(client, 1, "too_large")
        assert "max_pointer_size" in (status(client).last_error or "")
        recovers(client, rig.proxy, 2)


# -- a directory store ------------------------------------------------------------------
def _file_client(pub: Publisher, **options: object) -> Client:
    return Client(store=pub.url, channel="prod", poll_interval=3600, push=False, **options)  # type: ignore[arg-type]


def test_oversized_bundle_file_is_refused_unread(pub: Publisher, tmp_path: Path) -> None:
    pub.publish(1)
    with _file_client(pub) as client:
        pub.publish(2)
        # A bundle file a terabyte long (sparse: it costs no disk): a read of it would never end.
        path = tmp_path / "store" / bundle_key(digest_of(numbered(2)))
        os.truncate(path, 1 << 40)
        assert client.refresh() is False
        st = status(client)
        assert st.faults == {"too_large": 1} and st.version == 1 and client.get_int("t.n", 0) == 1
        assert "max_bundle_size" in (st.last_error or "")
        path.write_bytes(numbered(2))
        assert client.refresh() is True and client.get_int("t.n", 0) == 2


def test_oversized_pointer_file_is_refused(pub: Publisher, tmp_path: Path) -> None:
    pub.publish(1)
    with _file_client(pub, max_pointer_size=4096) as client:
        pub.publish(2)
        path = tmp_path / "store" / pointer_key("prod")
        path.write_bytes(path.read_bytes().rstrip() + b" " * BLOAT)  # still valid JSON
        assert client.refresh() is False
        assert status(client).faults == {"too_large": 1} and client.get_int("t.n", 0) == 1


def test_every_backend_refuses_an_object_over_its_limit(store_url: str) -> None:
    roomy = open_backend(store_url, create=True)
    key = bundle_key(digest_of(b"x"))
    roomy.put(key, bytes(LIMIT + 1))
    roomy.put(pointer_key("prod"), b"{}" + b" " * 5000)
    tight = open_backend(store_url, max_bundle_size=LIMIT, max_pointer_size=4096)
    with pytest.raises(ObjectTooLarge, match="max_bundle_size"):
        tight.get(key)
    with pytest.raises(ObjectTooLarge, match="max_pointer_size"):
        tight.get(pointer_key("prod"))
    roomy.put(key, bytes(LIMIT))
    assert tight.get(key) is not None  # the limit itself is allowed


def test_publish_refuses_a_bundle_no_reader_would_take(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path}", create=True, max_bundle_size=100)
    with pytest.raises(StoreError, match=r"262 bytes, more than the 100 .*max_bundle_size"):
        store.publish(numbered(1), "prod")
    assert store.backend.list("bundles/") == []
