"""Pointers and records parse strictly: anything else is CorruptPointer."""
from __future__ import annotations

import json

import pytest

from safeflags.store import CorruptPointer, Pointer, Record, digest_of

GOOD = {"channel": "prod", "version": 2, "latest": 3, "pinned": True, "digest": digest_of(b"x")}


def test_round_trip() -> None:
    ptr = Pointer.from_json(json.dumps(GOOD).encode(), "p")
    assert Pointer.from_json(ptr.to_json(), "p") == ptr
    rec = Record(version=1, digest=digest_of(b"x"), signature="c2ln")
    assert Record.from_json(rec.to_json(), "r") == rec


def test_unknown_fields_are_ignored_for_newer_publishers() -> None:
    assert Pointer.from_json(json.dumps({**GOOD, "added_later": 1}).encode(), "p").version == 2


@pytest.mark.parametrize("bad", [
    b"", b"{", b"[]", b"\xff\xfe",
    json.dumps({**GOOD, "version": "2"}).encode(),
    json.dumps({**GOOD, "version": True}).encode(),
    json.dumps({**GOOD, "version": 0}).encode(),
    json.dumps({**GOOD, "pinned": "yes"}).encode(),
    json.dumps({**GOOD, "latest": 1}).encode(),  # behind the version it serves
    json.dumps({**GOOD, "digest": "sha256-abc"}).encode(),
    json.dumps({**GOOD, "digest": "md5-" + "0" * 64}).encode(),
    json.dumps({k: v for k, v in GOOD.items() if k != "digest"}).encode(),
])
def test_corrupt_pointers(bad: bytes) -> None:
    with pytest.raises(CorruptPointer):
        Pointer.from_json(bad, "channels/prod.json")
