"""Pointers and records parse strictly: anything else is CorruptPointer."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from safeflags.store import CorruptPointer, Limits, ObjectTooLarge, Pointer, Record, bundle_key, digest_of
from safeflags.store.file import FileBackend
from safeflags.store.layout import chunk_key, manifest_key

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


def test_pieces_are_read_under_the_bundle_limit(tmp_path: Path) -> None:
    """A manifest or a chunk is never larger than its bundle: the same limit bounds it."""
    limits = Limits(bundle=1000, pointer=10)
    for key in (bundle_key("sha256-" + "0" * 64), manifest_key("sha256-" + "0" * 64),
                chunk_key("sha256-" + "1" * 64)):
        assert limits.of(key) == 1000 and limits.option(key) == "max_bundle_size"
    assert limits.of("channels/prod.json") == 10 and limits.option("history/x/1.json") == "max_pointer_size"
    backend = FileBackend(tmp_path, create=True, limits=limits)
    backend.put(chunk_key("sha256-" + "1" * 64), b"x" * 500)
    obj = backend.get(chunk_key("sha256-" + "1" * 64))
    assert obj is not None and len(obj.data) == 500
    backend.put(manifest_key("sha256-" + "0" * 64), b"x" * 1001)
    with pytest.raises(ObjectTooLarge, match="max_bundle_size"):
        backend.get(manifest_key("sha256-" + "0" * 64))
