"""A store with a publisher (optionally signing) for delivery and chaos tests."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from safeflags.serve import FlagServer
from safeflags.store import BundleStore, Record, open_store
from tests.helpers.bundles import numbered


def new_keypair() -> tuple[Any, str]:
    """An Ed25519 private key and its public key as PEM text."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return key, pem


class Publisher:
    def __init__(self, root: Path, channel: str = "prod", sign: bool = False):
        self.url = f"file://{root}"
        self.store: BundleStore = open_store(self.url, create=True)
        self.channel = channel
        self.key, self.public_pem = new_keypair() if sign else (None, None)
        self.latest = 0

    def publish(self, n: int | None = None, *, data: bytes | None = None, force: bool = False) -> Record:
        from safeflags.delivery.signature import Signer

        n = self.latest + 1 if n is None else n
        data = numbered(n) if data is None else data
        signer = Signer(self.key) if self.key is not None else None
        rec, _ = self.store.publish(data, self.channel, signer=signer, force=force)
        self.latest = n
        return rec


class Hammer:
    """Evaluates in a loop on its own thread and tallies what it got, so a
    test can say "100 % of evaluations served the last good value"."""

    def __init__(self, client: Any, expect: int):
        self.client = client
        self.expect = expect
        self.served = self.wrong = self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                ok = (self.client.get_int("t.n", -1) == self.expect
                      and self.client.get_string("t.name", "") == f"v{self.expect}")
                if ok:
                    self.served += 1
                else:
                    self.wrong += 1
            except Exception:  # counted: the contract is zero
                self.errors += 1

    def __enter__(self) -> Hammer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


# Fixtures shared by tests/delivery and tests/chaos (imported by their conftest.py).
@pytest.fixture
def pub(tmp_path: Path) -> Publisher:
    return Publisher(tmp_path / "store")


@pytest.fixture
def signed(tmp_path: Path) -> Publisher:
    return Publisher(tmp_path / "store", sign=True)


@pytest.fixture
def server(pub: Publisher) -> Iterator[FlagServer]:
    """`safeflags serve` over the `pub` store, already at version 1."""
    pub.publish(1)
    srv = FlagServer(open_store(pub.url), watch_interval=0.05, heartbeat=0.5).start()
    try:
        yield srv
    finally:
        srv.close()
