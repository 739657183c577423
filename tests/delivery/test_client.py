"""safeflags.delivery.Client: first load, refresh, fail static, status."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest

from safeflags.delivery import Client, Update
from safeflags.sdk.details import ErrorCode, Reason
from tests.helpers.bundles import numbered
from tests.helpers.delivery import Publisher
from tests.helpers.s3server import free_ports
from tests.helpers.waiting import wait_until

POLL = 0.1
# No minimum gap between refreshes: the default gap (1 s) is tested in test_push_coalescing.py, and here it
# would only make every wait on an update or a fault a second long.
GAP = 0


def dead_url() -> str:
    """An http store nobody listens on: connection refused at once."""
    return f"http://127.0.0.1:{free_ports(1)[0]}"


def test_loads_polls_and_tells_listeners(pub: Publisher) -> None:
    pub.publish(1)
    changes: list[Update] = []
    with Client(store=pub.url, channel="prod", poll_interval=POLL, min_refresh_interval=GAP,
                on_change=changes.append) as client:
        assert client.get_int("t.n", 0) == 1
        st = client.delivery_status()
        assert st is not None and (st.origin, st.version, st.healthy) == ("store", 1, True)
        assert st.source_revision == "rev-1" and st.digest.startswith("sha256-")
        pub.publish(2)
        wait_until(lambda: client.get_int("t.n", 0) == 2, what="version 2")
        assert [c.version for c in changes] == [1, 2] and changes[1].old_version == 1
        assert client.details("t.n", 0).reason is Reason.STATIC


def test_cold_start_when_the_store_is_down(tmp_path: Path) -> None:
    cold = tmp_path / "cold.pb"
    cold.write_bytes(numbered(7))
    with Client(store=dead_url(), channel="prod", cold_start=cold, poll_interval=POLL, min_refresh_interval=GAP,
                timeout=1) as client:
        assert client.get_int("t.n", 0) == 7
        st = client.delivery_status()
        assert st is not None and (st.origin, st.version, st.healthy) == ("cold_start", None, False)
        assert st.faults["unavailable"] >= 1 and "cannot read" in (st.last_error or "")


def test_cache_of_the_last_good_bundle_beats_cold_start(pub: Publisher, tmp_path: Path) -> None:
    pub.publish(3)
    cache, cold = tmp_path / "cache", tmp_path / "cold.pb"
    cold.write_bytes(numbered(1))
    with Client(store=pub.url, channel="prod", cache_dir=cache, poll_interval=POLL, min_refresh_interval=GAP):
        pass
    # Same store URL, now unreachable: the cache is keyed by store and channel.
    (tmp_path / "store").rename(tmp_path / "gone")
    with Client(store=pub.url, channel="prod", cache_dir=cache, cold_start=cold, poll_interval=POLL,
                min_refresh_interval=GAP) as client:
        st = client.delivery_status()
        assert st is not None and (st.origin, st.version) == ("cache", 1)
        assert "store file://" in (st.last_error or "") and "no directory" in (st.last_error or "")
        assert client.get_int("t.n", 0) == 3
        (tmp_path / "gone").rename(tmp_path / "store")
        # The store vouches for the cached bytes: same digest, nothing to load.
        wait_until(lambda: client.delivery_status().origin == "store", what="store confirms")  # type: ignore[union-attr]
        assert client.delivery_status().updates == 1  # type: ignore[union-attr]
        pub.publish(4)
        wait_until(lambda: client.get_int("t.n", 0) == 4, what="back on the store")
        assert client.delivery_status().origin == "store"  # type: ignore[union-attr]


def test_nothing_at_all_serves_code_defaults(tmp_path: Path) -> None:
    with Client(store=dead_url(), channel="prod", poll_interval=POLL, min_refresh_interval=GAP, timeout=1) as client:
        d = client.details("t.n", 42)
        assert (d.value, d.reason, d.error_code) == (42, Reason.ERROR, ErrorCode.PROVIDER_NOT_READY)
        assert client.delivery_status().origin == "none"  # type: ignore[union-attr]


def test_signed_bundles_only(signed: Publisher, caplog: pytest.LogCaptureFixture) -> None:
    signed.publish(1)
    events: list[tuple[str, dict[str, object]]] = []
    with Client(store=signed.url, channel="prod", poll_interval=POLL, min_refresh_interval=GAP,
                public_key=signed.public_pem, metrics=lambda e, a: events.append((e, dict(a)))) as client:
        assert client.get_int("t.n", 0) == 1
        # An unsigned publish (say, from a leaked store credential) is refused.
        signed.store.publish(numbered(2), "prod")
        wait_until(lambda: client.delivery_status().faults.get("bad_signature", 0) >= 3,  # type: ignore[union-attr]
                   what="refused signature")
        assert client.get_int("t.n", 0) == 1
        faults = [a for e, a in events if e == "safeflags.delivery.fault"]
        assert len(faults) == 1 and faults[0]["kind"] == "bad_signature"  # once per incident
        assert sum("failed (bad_signature)" in r.message for r in caplog.records) == 1
        signed.publish(3)
        wait_until(lambda: client.get_int("t.n", 0) == 3, what="signed version 3")
        # The recovery is reported just after the swap, on the delivery thread.
        wait_until(lambda: "safeflags.delivery.recovered" in [e for e, _ in events], what="recovered")
        assert [e for e, _ in events].count("safeflags.delivery.recovered") == 1


def test_signatures_bind_channel_and_version(signed: Publisher) -> None:
    """A signed old bundle behind a forged newer version number, or a bundle
    signed for another channel, is refused: the signature covers both."""
    from dataclasses import replace

    from safeflags.delivery.signature import Signer
    from safeflags.store.layout import pointer_key

    signed.publish(1)
    v1 = signed.store.pointer("prod")
    signed.publish(2)
    with Client(store=signed.url, channel="prod", poll_interval=POLL, min_refresh_interval=GAP,
                public_key=signed.public_pem) as client:
        assert client.get_int("t.n", 0) == 2
        forged = replace(v1, version=3, latest=3)  # old bytes, old signature, newer number
        signed.store.backend.put(pointer_key("prod"), forged.to_json())
        wait_until(lambda: client.delivery_status().faults.get("bad_signature", 0) >= 2,  # type: ignore[union-attr]
                   what="forged version refused")
        signed.store.publish(numbered(9), "staging", signer=Signer(signed.key))
        other = replace(signed.store.pointer("staging"), channel="prod", version=4, latest=4)
        signed.store.backend.put(pointer_key("prod"), other.to_json())
        wait_until(lambda: "'prod'" in (client.delivery_status().last_error or "")  # type: ignore[union-attr]
                   and client.delivery_status().faults["bad_signature"] >= 4, what="cross-channel refused")  # type: ignore[union-attr]
        assert client.get_int("t.n", 0) == 2


def test_replay_of_an_older_version_is_refused_unless_pinned(pub: Publisher) -> None:
    from safeflags.store.layout import pointer_key

    for n in (1, 2):
        pub.publish(n)
    old = pub.store.pointer("prod")
    pub.publish(3)
    with Client(store=pub.url, channel="prod", poll_interval=POLL, min_refresh_interval=GAP) as client:
        assert client.get_int("t.n", 0) == 3
        pub.store.backend.put(pointer_key("prod"), old.to_json())  # an attacker or a bad restore
        wait_until(lambda: client.delivery_status().faults.get("replay", 0) >= 2, what="replay")  # type: ignore[union-attr]
        assert client.get_int("t.n", 0) == 3
        pub.store.backend.put(pointer_key("prod"), pub.store.pointer("prod").with_latest(3).to_json())
        pub.store.pin("prod", 2)  # an operator's rollback is not a replay
        wait_until(lambda: client.get_int("t.n", 0) == 2, what="pinned version 2")
        assert client.delivery_status().pinned  # type: ignore[union-attr]


def test_newer_format_is_refused(pub: Publisher) -> None:
    pub.publish(1)
    with Client(store=pub.url, channel="prod", poll_interval=POLL, min_refresh_interval=GAP) as client:
        pub.publish(2, data=numbered(2, format_version=99))
        wait_until(lambda: "bad_bundle" in client.delivery_status().faults, what="format fault")  # type: ignore[union-attr]
        assert client.get_int("t.n", 0) == 1
        assert "newer than this SDK reads" in (client.delivery_status().last_error or "")  # type: ignore[union-attr]


def test_stale_reason_when_the_store_stops_answering(pub: Publisher, tmp_path: Path) -> None:
    pub.publish(1)
    with Client(store=pub.url, channel="prod", poll_interval=POLL, min_refresh_interval=GAP, stale_after=0.3) as client:
        assert client.details("t.n", 0).reason is Reason.STATIC
        (tmp_path / "store").rename(tmp_path / "gone")
        wait_until(lambda: client.details("t.n", 0).reason is Reason.STALE, what="STALE")
        assert client.details("t.n", 0).value == 1 and client.delivery_status().stale  # type: ignore[union-attr]
        (tmp_path / "gone").rename(tmp_path / "store")
        wait_until(lambda: client.details("t.n", 0).reason is Reason.STATIC, what="fresh again")


def test_options_need_a_store() -> None:
    with pytest.raises(TypeError, match="need store=URL"):
        Client(channel="prod")
    with pytest.raises(TypeError, match="needs channel"):
        Client(store="file:///nonexistent")
    client = Client.from_bytes(numbered(5))
    assert client.get_int("t.n", 0) == 5 and client.delivery_status() is None


def test_a_failing_listener_is_not_a_delivery_fault(pub: Publisher, caplog: pytest.LogCaptureFixture) -> None:
    pub.publish(1)

    def boom(change: Update) -> None:
        raise RuntimeError("listener bug")

    with caplog.at_level(logging.ERROR), Client(store=pub.url, channel="prod", poll_interval=POLL,
                                                 min_refresh_interval=GAP, on_change=boom) as client:
        pub.publish(2)
        wait_until(lambda: client.get_int("t.n", 0) == 2, what="version 2")
        assert client.delivery_status().healthy  # type: ignore[union-attr]
    assert any("listener" in r.message for r in caplog.records)


def test_start_delivery_on_a_plain_sdk_client(pub: Publisher) -> None:
    from safeflags.delivery import start_delivery
    from safeflags.sdk import Evaluator

    pub.publish(1)
    client = Evaluator(static={"region": "eu"})
    delivery = start_delivery(client, store=pub.url, channel="prod", poll_interval=POLL, min_refresh_interval=GAP)
    try:
        assert client.get_int("t.n", 0) == 1 and delivery.status().origin == "store"
        assert delivery.static == {"region": "eu"}
        pub.publish(2)
        wait_until(lambda: client.get_int("t.n", 0) == 2, what="version 2")
    finally:
        delivery.close()


def test_a_corrupt_pointer_is_a_fault(pub: Publisher) -> None:
    from safeflags.store.layout import pointer_key

    pub.publish(1)
    good = pub.store.backend.get(pointer_key("prod")).data  # type: ignore[union-attr]
    with Client(store=pub.url, channel="prod", poll_interval=POLL, min_refresh_interval=GAP) as client:
        pub.store.backend.put(pointer_key("prod"), good[: len(good) // 2])  # a torn write elsewhere
        wait_until(lambda: "corrupt_pointer" in client.delivery_status().faults, what="fault")  # type: ignore[union-attr]
        assert client.get_int("t.n", 0) == 1
        pub.store.backend.put(pointer_key("prod"), good)
        wait_until(lambda: client.delivery_status().healthy, what="recovery")  # type: ignore[union-attr]


def test_a_token_is_for_http_stores_only(pub: Publisher, tmp_path: Path) -> None:
    from safeflags.store import StoreError, open_backend
    pub.publish(1)
    with pytest.raises(StoreError, match=r"token= is for http\(s\):// stores, not file://"):
        Client(store=pub.url, channel="prod", token="s3cret")
    with pytest.raises(StoreError, match=r"token= is for http\(s\):// stores, not s3://"):
        open_backend("s3://bucket/prefix", token="s3cret")
    with pytest.raises(TypeError, match="token need store=URL"):
        Client(token="s3cret")


def test_the_token_opens_a_store_behind_safeflags_serve(pub: Publisher) -> None:
    from safeflags.serve import FlagServer
    from safeflags.store import open_store
    pub.publish(1)
    srv = FlagServer(open_store(pub.url), watch_interval=0.05, heartbeat=0.5, token="s3cret").start()
    try:
        with Client(store=srv.url, channel="prod", poll_interval=POLL, min_refresh_interval=GAP,
                    token="s3cret") as client:
            assert client.get_int("t.n", 0) == 1
            pub.publish(2)
            wait_until(lambda: client.get_int("t.n", 0) == 2, what="the update through the server")
        with Client(store=srv.url, channel="prod", poll_interval=POLL, min_refresh_interval=GAP,
                    push=False) as anonymous:
            st = anonymous.delivery_status()
            assert st is not None and st.origin == "none" and "access_denied" in st.faults
    finally:
        srv.close()


def test_status_says_how_updates_were_fetched(pub: Publisher) -> None:
    import os
    pub.publish(1)
    with Client(store=pub.url, channel="prod", poll_interval=3600, push=False) as client:
        st = client.delivery_status()
        assert st is not None
        assert (st.fetched, st.fetched_bytes, st.fetched_bytes_total) == ("whole", len(numbered(1)), len(numbered(1)))
        assert st.pid == os.getpid() and st.forked_from is None and st.fallbacks == {}
        pub.publish(2)
        assert client.refresh()
        st = client.delivery_status()
        assert st is not None and st.fetched_bytes_total == len(numbered(1)) + st.fetched_bytes
