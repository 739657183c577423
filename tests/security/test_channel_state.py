"""Attacks on a channel's state by someone who can write the store but does
not hold the signing key: an unsigned pin to an old version, a pin signed by
another key, a version number forged around the current digest, a channel
frozen on a signed state until it expires, and replays of older signed
states. A client given the public key refuses each one (a counted fault,
the last good snapshot keeps serving) and still takes what the key holder
signs: a rollback by a signed pin, a renewed signature.

Everything here is real: a file:// store written by the real CLI with real
Ed25519 keys, and clients reading it. The poll interval is an hour, so each
answer is the outcome of the test's own `refresh()`; time is a fixed clock
handed to the client, never a sleep.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization

from safeflags.cli.main import cli
from safeflags.delivery import Client, DeliveryStatus, start_delivery
from safeflags.delivery.signature import (
    Signer,
    key_id,
    load_public_key,
    sign,
    state_statement,
    statement,
    verify,
)
from safeflags.sdk.details import Reason
from safeflags.store import Pointer, open_store
from safeflags.store.layout import SignedState, format_time, history_key, parse_time, pointer_key
from tests.helpers.bundles import numbered
from tests.helpers.delivery import new_keypair

NEVER = 3600.0  # poll interval: only the test's own refresh() calls reach the store


class Clock:
    """The client's idea of now (epoch seconds), moved by the test."""

    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


def pem_file(path: Path, key: Any) -> Path:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return path


@dataclass
class Channel:
    """The `prod` channel of a file:// store, written through the CLI."""

    root: Path
    key_file: Path  # the release key: clients hold its public half
    public: str
    other_key: Any  # an attacker's own key
    other_file: Path

    @property
    def url(self) -> str:
        return f"file://{self.root / 'store'}"

    def sf(self, *args: object, key: Path | None = None) -> tuple[int, str, str]:
        extra = ["--sign-key", str(key)] if key is not None else []
        result = CliRunner().invoke(cli, [str(a) for a in args] + ["--store", self.url, "--channel", "prod"] + extra)
        return result.exit_code, result.stdout, result.stderr

    def ok(self, *args: object, key: Path | None = None) -> str:
        code, out, err = self.sf(*args, key=key)
        assert code == 0, (code, out, err)
        return out + err

    def publish(self, n: int, *extra: object, signed: bool = True) -> Pointer:
        bundle = self.root / f"b{n}.pb"
        bundle.write_bytes(numbered(n))
        self.ok("publish", bundle, *extra, key=self.key_file if signed else None)
        return self.pointer()

    def pointer(self) -> Pointer:
        return open_store(self.url).pointer("prod")

    def raw(self) -> bytes:
        obj = open_store(self.url).backend.get(pointer_key("prod"))
        assert obj is not None
        return obj.data

    def write(self, data: bytes) -> None:
        """Overwrite the pointer as anyone with write access to the store can."""
        open_store(self.url).backend.put(pointer_key("prod"), data)

    def forge(self, **changes: Any) -> None:
        self.write(replace(self.pointer(), **changes).to_json())


@pytest.fixture
def ch(tmp_path: Path) -> Channel:
    key, public = new_keypair()
    other, _ = new_keypair()
    return Channel(tmp_path, pem_file(tmp_path / "release.pem", key), public, other,
                   pem_file(tmp_path / "attacker.pem", other))


def seconds(stamp: str) -> float:
    micros = parse_time(stamp)
    assert micros is not None, stamp
    return micros / 1_000_000


def signed_at(ptr: Pointer) -> float:
    assert ptr.state is not None, ptr
    return seconds(ptr.state.signed_at)


@contextmanager
def client_of(ch: Channel, clock: Clock, *, key: bool = True, cache: Path | None = None) -> Iterator[Client]:
    client = Client()
    client.delivery = start_delivery(client, store=ch.url, channel="prod", poll_interval=NEVER, push=False,
                                     public_key=ch.public if key else None, clock=clock, cache_dir=cache)
    try:
        yield client
    finally:
        client.close()


def status(client: Client) -> DeliveryStatus:
    st = client.delivery_status()
    assert st is not None
    return st


def serves(client: Client, n: int) -> None:
    got = (client.get_int("t.n", 0), client.get_string("t.name", ""), status(client).version)
    assert got == (n, f"v{n}", n), f"serves {got}, should serve version {n}"


def refused(client: Client, kind: str, says: str) -> None:
    """One refresh, refused: nothing is loaded, one more `kind` fault, the reason named."""
    before = status(client)
    assert client.refresh() is False, f"took the pointer: {status(client)}"
    st = status(client)
    assert st.faults.get(kind, 0) == before.faults.get(kind, 0) + 1, st.faults
    assert not st.healthy and says in (st.last_error or ""), st.last_error
    assert (st.version, st.digest, st.updates) == (before.version, before.digest, before.updates)


def test_an_unsigned_state_is_refused(ch: Channel) -> None:
    ch.publish(1)
    with client_of(ch, Clock(signed_at(ch.pointer()))) as client:
        serves(client, 1)
        v2 = ch.publish(2)
        pointer = json.loads(ch.raw())
        # Version 2 as published, minus its state: the bundle signature alone still verifies...
        ch.write(json.dumps({k: v for k, v in pointer.items() if k != "state"}).encode())
        verify(statement("prod", 2, v2.digest), ch.pointer().signature, load_public_key(ch.public))
        refused(client, "bad_signature", "is not signed")
        # ...and a state that is not one (wrong types) is no state at all.
        ch.write(json.dumps({**pointer, "state": {**pointer["state"], "signed_at": 7}}).encode())
        refused(client, "bad_signature", "is not signed")
        serves(client, 1)


def test_an_unsigned_pin_to_an_old_version_is_refused(ch: Channel) -> None:
    v1 = ch.publish(1)
    ch.publish(2)
    ch.publish(3)
    with client_of(ch, Clock(signed_at(ch.pointer()))) as client:
        serves(client, 3)
        # With the store's credentials alone, through the real CLI...
        out = ch.ok("pin", 1)
        assert "not signed" in out and ch.pointer().state is None and ch.pointer().pinned
        refused(client, "bad_signature", "is not signed")
        # ...or by hand, keeping the signed state of version 3.
        ch.ok("unpin", key=ch.key_file)
        assert client.refresh() is False and status(client).healthy  # version 3, signed again
        v3 = ch.pointer()
        ch.write(replace(v3, version=1, digest=v1.digest, signature=v1.signature, pinned=True).to_json())
        refused(client, "bad_signature", "bad state signature of version 1")
        ch.write(replace(v3, pinned=True).to_json())  # "pinned" alone is signed too
        refused(client, "bad_signature", "bad state signature of version 3")
        # Renewing is not a way in: refresh-signature signs only states its key signed.
        ch.ok("pin", 1)
        code, _, err = ch.sf("refresh-signature", key=ch.key_file)
        assert code == 2 and "is not signed by this key" in err
        refused(client, "bad_signature", "is not signed")
        serves(client, 3)


def test_a_pin_signed_by_another_key_is_refused(ch: Channel) -> None:
    v1 = ch.publish(1)
    ch.publish(2)
    with client_of(ch, Clock(signed_at(ch.pointer()))) as client:
        serves(client, 2)
        # The CLI will not sign a pin to a version its key did not sign...
        code, _, err = ch.sf("pin", 1, key=ch.other_file)
        assert code == 2 and "not signed by this key" in err
        # ...so the attacker rewrites that version's record with their own key first.
        store = open_store(ch.url)
        rec = store.record("prod", 1)
        assert rec is not None
        forged = replace(rec, signature=Signer(ch.other_key)("prod", 1, v1.digest))
        store.backend.put(history_key("prod", 1), forged.to_json())
        ch.ok("pin", 1, key=ch.other_file)
        state = ch.pointer().state
        assert state is not None and state.key == key_id(ch.other_key.public_key())
        refused(client, "bad_signature", "signed by another key")
        # Claiming to be the release key does not help: the key id is not what is trusted.
        ch.forge(state=replace(state, key=key_id(load_public_key(ch.public))))
        refused(client, "bad_signature", "not signed by the configured key")
        serves(client, 2)


def test_a_version_forged_around_the_current_digest_is_refused(ch: Channel) -> None:
    ch.publish(1)
    ch.publish(2)
    with client_of(ch, Clock(signed_at(ch.pointer()))) as client:
        serves(client, 2)
        good = ch.raw()
        ch.forge(version=10**12, latest=10**12)  # the same bytes: nothing to download, nothing else to check
        refused(client, "bad_signature", "bad state signature of version 1000000000000")
        assert status(client).version == 2
        # The forged number raised no floor: once the store is repaired, the next version is taken.
        ch.write(good)
        ch.publish(3)
        assert client.refresh() is True
        serves(client, 3)
        assert status(client).healthy


def test_an_expired_state_is_stale_until_refresh_signature(ch: Channel) -> None:
    first = ch.publish(1, "--expires-in", "1h")
    assert first.state is not None
    assert parse_time(first.state.expires) - parse_time(first.state.signed_at) == 3600 * 10**6  # type: ignore[operator]
    expires = seconds(first.state.expires)
    clock = Clock(signed_at(first))
    with client_of(ch, clock) as client:
        serves(client, 1)
        st = status(client)
        assert (client.details("t.n", 0).reason, st.stale, st.healthy, st.expires) == (
            Reason.STATIC, False, True, first.state.expires)
        clock.now = expires + 1  # the store goes on answering, with the same, no longer fresh, signature
        assert client.details("t.n", 0).reason is Reason.STALE and status(client).stale
        refused(client, "expired", f"expired at {first.state.expires}")
        assert client.details("t.n", 0).value == 1 and client.get_int("t.n", 0) == 1
        refused(client, "expired", "refresh-signature")  # and on every refresh, not once
        # The cron job runs: the same version, digest and pin, signed anew.
        out = ch.ok("refresh-signature", "--expires-in", "2h", key=ch.key_file)
        assert "re-signed channel 'prod'" in out
        renewed = ch.pointer()
        assert renewed.state is not None
        assert (renewed.version, renewed.digest, renewed.pinned) == (first.version, first.digest, first.pinned)
        assert signed_at(renewed) > signed_at(first) and seconds(renewed.state.expires) > expires
        assert client.refresh() is False  # nothing new to load...
        st = status(client)
        assert st.healthy and not st.stale and st.expires == renewed.state.expires  # ...and fresh again
        assert client.details("t.n", 0).reason is Reason.STATIC
        assert st.updates == 1 and st.faults == {"expired": 2}
    # A client that first sees the state after its expiry refuses it outright.
    with client_of(ch, Clock(seconds(renewed.state.expires) + 1)) as late:
        st = status(late)
        assert st.origin == "none" and st.faults == {"expired": 1}


def test_a_rollback_by_a_signed_pin_is_taken(ch: Channel) -> None:
    ch.publish(1)
    ch.publish(2)
    ch.publish(3)
    with client_of(ch, Clock(signed_at(ch.pointer()))) as client:
        serves(client, 3)
        out = ch.ok("rollback", key=ch.key_file)
        assert "channel state signed, expires" in out
        assert client.refresh() is True
        serves(client, 2)
        assert status(client).pinned
        ch.ok("pin", 1, key=ch.key_file)  # further back, still signed
        assert client.refresh() is True
        serves(client, 1)
        ch.ok("unpin", key=ch.key_file)
        assert client.refresh() is True
        serves(client, 3)
        ch.ok("rollback", key=ch.key_file)
        assert client.refresh() is True
        serves(client, 2)
        ch.publish(4, "--force")  # over the pin: signed after it, so taken
        assert client.refresh() is True
        serves(client, 4)
        st = status(client)
        assert st.healthy and not st.pinned and st.faults == {}


def test_a_replayed_older_signed_state_is_refused(ch: Channel, tmp_path: Path) -> None:
    ch.publish(1)
    old_version = ch.raw()
    ch.publish(2)
    same_version = ch.raw()
    clock = Clock(signed_at(ch.pointer()))
    with client_of(ch, clock, cache=tmp_path / "cache") as client:
        serves(client, 2)
        ch.write(old_version)  # a lower version: still signed, still unexpired
        refused(client, "replay", "not newer than the trusted one")
        ch.write(same_version)
        ch.ok("refresh-signature", key=ch.key_file)
        assert client.refresh() is False and status(client).healthy
        renewed = ch.raw()
        ch.write(same_version)  # the same version, signed earlier
        refused(client, "replay", "not newer than the trusted one")
        serves(client, 2)
        # An old signed pin, replayed after the channel moved on.
        ch.write(renewed)
        ch.ok("pin", 1, key=ch.key_file)
        old_pin = ch.raw()
        assert client.refresh() is True
        serves(client, 1)
        ch.ok("unpin", key=ch.key_file)
        assert client.refresh() is True
        serves(client, 2)
        ch.write(old_pin)
        refused(client, "replay", "not newer than the trusted one")
        serves(client, 2)
    # A restart does not reopen the door: the cached state is the floor.
    with client_of(ch, clock, cache=tmp_path / "cache") as client:
        st = status(client)
        assert (st.origin, st.version, st.faults) == ("cache", 2, {"replay": 1}), st
        serves(client, 2)


def test_an_unpinned_state_never_goes_back_even_when_signed_later(ch: Channel) -> None:
    """The key holder's own tools never sign this; the client refuses it anyway."""
    ch.publish(1)
    v1 = ch.pointer()
    ch.publish(2)
    with client_of(ch, Clock(signed_at(ch.pointer()))) as client:
        serves(client, 2)
        back = replace(ch.pointer(), version=1, digest=v1.digest, signature=v1.signature)
        at = signed_at(ch.pointer()) + 1
        state = SignedState(signed_at=format_time(int(at * 10**6)), expires=format_time(int((at + 3600) * 10**6)),
                            signature="")
        key = serialization.load_pem_private_key(ch.key_file.read_bytes(), password=None)
        ch.write(replace(back, state=replace(state, signature=sign(state_statement(back, state), key))).to_json())
        refused(client, "replay", "only a signed pin goes back")


def test_expiry_options(ch: Channel) -> None:
    """The expiry defaults to 7 days, takes unit sums, and is never zero or absent a key."""
    def lifetime() -> int:
        state = ch.pointer().state
        assert state is not None
        return (parse_time(state.expires) or 0) - (parse_time(state.signed_at) or 0)

    ch.publish(1)
    assert lifetime() == 7 * 86400 * 10**6
    ch.ok("refresh-signature", "--expires-in", "1d12h", key=ch.key_file)
    assert lifetime() == 36 * 3600 * 10**6
    ch.ok("refresh-signature", "--expires-in", "90", key=ch.key_file)
    assert lifetime() == 90 * 10**6
    for bad in ("0", "-5m", "soon", "7 days"):
        code, _, err = ch.sf("refresh-signature", "--expires-in", bad, key=ch.key_file)
        assert code == 2 and "--expires-in" in err, (bad, err)
    code, _, err = ch.sf("unpin", "--expires-in", "1h")
    assert code == 2 and "--expires-in needs --sign-key" in err
    code, _, err = ch.sf("refresh-signature")
    assert code == 2 and "--sign-key" in err
    assert lifetime() == 90 * 10**6


def test_a_client_without_a_key_is_unchanged(ch: Channel) -> None:
    """Signed pointers stay readable by clients without a key and by older
    clients (their bundle signature is where it was); unsigned ones are
    byte for byte the old format."""
    ch.publish(1, signed=False)
    assert "state" not in json.loads(ch.raw())
    ch.publish(2)
    ptr = ch.pointer()
    fields = set(json.loads(ch.raw()))
    assert fields - {"state"} == {"channel", "version", "digest", "latest", "pinned", "source_revision",
                                  "published", "size", "signature", "updated", "format"}
    verify(statement("prod", 2, ptr.digest), ptr.signature, load_public_key(ch.public))
    with client_of(ch, Clock(0.0), key=False) as client:  # no key: expiry means nothing to it
        serves(client, 2)
        ch.ok("pin", 1)  # unsigned: a client without a key follows, as ever
        assert client.refresh() is True
        serves(client, 1)
        st = status(client)
        assert st.healthy and not st.stale and st.expires == ""
