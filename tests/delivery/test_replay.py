"""Replay protection: a client moves only forward. A pointer whose version is
not newer than the one served (the same version with other bytes, or an
older one) is refused as a replay unless the channel is pinned, and the
client keeps serving what it had.

Each step calls `refresh()` itself (the poll interval is an hour, the store
is a directory, so nothing refreshes behind the test's back): every answer
is the outcome of one refresh, not of a race with a timer.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from safeflags.delivery import Client, DeliveryStatus
from safeflags.store.layout import Pointer, pointer_key
from tests.helpers.bundles import numbered
from tests.helpers.delivery import Publisher

NEVER = 3600.0  # poll interval: only the test's own refresh() calls reach the store


def forge(pub: Publisher, **changes: object) -> Pointer:
    """Write the prod pointer with `changes` over the current one (a bad restore,
    a second publisher, or someone with write access to the store)."""
    ptr = replace(pub.store.pointer("prod"), **changes)  # type: ignore[arg-type]
    pub.store.backend.put(pointer_key("prod"), ptr.to_json())
    return ptr


def other_bytes(pub: Publisher, n: int) -> str:
    """Store a bundle that serves `t.n == n` without publishing it; its digest."""
    return pub.store.put_bundle(numbered(n, revision=f"other-{n}"))


def status(client: Client) -> DeliveryStatus:
    st = client.delivery_status()
    assert st is not None
    return st


def serves(client: Client, n: int, digest: str) -> None:
    got = (client.get_int("t.n", 0), client.get_string("t.name", ""), status(client).digest)
    assert got == (n, f"v{n}", digest), f"serves {got}, should still serve version {n}"


def refused(client: Client) -> None:
    """One refresh, refused as a replay: nothing is loaded, one more replay fault."""
    before = status(client).faults.get("replay", 0)
    assert client.refresh() is False, f"loaded the replayed pointer: {status(client)}"
    assert status(client).faults.get("replay", 0) == before + 1, status(client).faults


def test_same_version_with_other_bytes_is_a_replay(pub: Publisher) -> None:
    pub.publish(1)
    v2 = pub.publish(2)
    with Client(store=pub.url, channel="prod", poll_interval=NEVER) as client:
        serves(client, 2, v2.digest)
        forge(pub, digest=other_bytes(pub, 7))  # version 2 again, different digest
        refused(client)
        st = status(client)
        assert st.faults == {"replay": 1} and not st.healthy
        assert "version 2, not newer than version 2 already served" in (st.last_error or "")
        serves(client, 2, v2.digest)
        assert st.version == 2 and st.updates == 1
        refused(client)  # and again on the next refresh: the refusal is not a one-off
        serves(client, 2, v2.digest)


def test_an_older_version_is_a_replay_whatever_its_bytes(pub: Publisher) -> None:
    v1 = pub.publish(1)
    v2 = pub.publish(2)
    with Client(store=pub.url, channel="prod", poll_interval=NEVER) as client:
        serves(client, 2, v2.digest)
        for digest in (v1.digest, other_bytes(pub, 8)):
            forge(pub, version=1, digest=digest)
            refused(client)
            serves(client, 2, v2.digest)
        st = status(client)
        assert st.faults == {"replay": 2} and st.version == 2
        assert "version 1, not newer than version 2" in (st.last_error or "")


def test_moving_forward_still_works_and_a_pin_is_not_a_replay(pub: Publisher) -> None:
    """The other side of the boundary: what the refusals above must not catch."""
    v1 = pub.publish(1)
    pub.publish(2)
    with Client(store=pub.url, channel="prod", poll_interval=NEVER) as client:
        forge(pub, digest=other_bytes(pub, 7))
        refused(client)
        v3 = pub.publish(3)
        assert client.refresh() is True  # a real next version heals the incident
        serves(client, 3, v3.digest)
        assert status(client).healthy
        pub.store.pin("prod", 1)  # an operator's rollback
        assert client.refresh() is True
        serves(client, 1, v1.digest)
        assert status(client).pinned
        assert client.refresh() is False  # the same bytes again: nothing to load, no fault
        assert status(client).faults == {"replay": 1}


def test_the_floor_survives_a_restart(pub: Publisher, tmp_path: Path) -> None:
    """A restarted service remembers (from its cache) the newest version it
    served, so a same-version pointer with other bytes is refused even as
    its very first answer; it serves the cached bundle instead."""
    cache = tmp_path / "cache"
    pub.publish(1)
    v2 = pub.publish(2)
    with Client(store=pub.url, channel="prod", poll_interval=NEVER, cache_dir=cache) as client:
        serves(client, 2, v2.digest)
    forge(pub, digest=other_bytes(pub, 7))
    with Client(store=pub.url, channel="prod", poll_interval=NEVER, cache_dir=cache) as client:
        st = status(client)
        assert st.faults == {"replay": 1} and (st.origin, st.version) == ("cache", 2), st
        serves(client, 2, v2.digest)
