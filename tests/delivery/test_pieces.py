"""A delivery client fetches an update by what changed: the manifest and the
chunks its snapshot lacks; anything wrong on that path costs the whole bundle,
never a wrong value (safeflags/delivery/pieces.py)."""
from __future__ import annotations

import hashlib
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from safeflags.delivery import Delivery
from safeflags.delivery.pieces import MAX_CHUNK_REQUESTS, MIN_PIECES_SIZE
from safeflags.sdk import chunks
from safeflags.sdk.evaluator import Evaluator
from safeflags.sdk.snapshot import Snapshot
from safeflags.store import BundleStore, Obj, digest_of, open_store
from safeflags.store.file import FileBackend
from safeflags.store.layout import chunk_key, manifest_key, pointer_key
from tests.helpers.delivery import Publisher
from tests.helpers.waiting import wait_until
from tests.store.test_pieces import wide

FLAGS = 5000  # 85 KB: big enough to be fetched in pieces


class Counting(FileBackend):
    """A real file store that records every key read and the bytes it returned."""

    def __init__(self, root: Path):
        super().__init__(root)
        self.reads: list[tuple[str, int]] = []

    def get(self, key: str, if_none_match: str | None = None) -> Obj | None:
        obj = super().get(key, if_none_match)
        self.reads.append((key, len(obj.data) if obj is not None else 0))
        return obj


def delivery(pub: Publisher, **kw: Any) -> tuple[Evaluator, Delivery, Counting]:
    backend = Counting(Path(pub.url.removeprefix("file://")))
    client = Evaluator()
    d = Delivery(client, store=pub.url, channel="prod", backend=backend, poll_interval=3600, push=False, **kw)
    d.start()
    backend.reads.clear()
    return client, d, backend


def values(client: Evaluator, *keys: int) -> list[int]:
    return [client.get_int(f"w.{k:04d}", -999) for k in keys]


def chunk_path(pub: Publisher, data: bytes, changed_from: bytes) -> Path:
    """The file of a chunk `data` has and `changed_from` has not."""
    old = set(chunks.split(changed_from).chunks)  # type: ignore[union-attr]
    new = [c for c in chunks.split(data).chunks if c not in old]  # type: ignore[union-attr]
    return Path(pub.url.removeprefix("file://")) / chunk_key(chunks.chunk_name(hashlib.sha256(new[0]).digest()))


@pytest.fixture
def two(pub: Publisher) -> tuple[bytes, bytes]:
    """Version 1 published; version 2 (one flag changed) to publish."""
    first, second = wide(flags=FLAGS), wide({321: -321}, flags=FLAGS)
    pub.publish(data=first)
    return first, second


def test_a_one_flag_update_downloads_the_manifest_and_the_changed_chunks(pub: Publisher) -> None:
    first, second = wide(flags=FLAGS), wide({321: -321}, flags=FLAGS)
    pub.publish(data=first)
    client, d, backend = delivery(pub)
    try:
        pub.publish(data=second)
        assert d.refresh()
        assert values(client, 321, 320) == [-321, 320]
        keys = [k for k, _ in backend.reads]
        assert keys[0] == pointer_key("prod") and keys[1] == manifest_key(digest_of(second))
        assert 1 <= len(keys[2:]) <= 2 and all(k.startswith("chunks/") for k in keys[2:])
        st = d.status()
        assert st.fetched == "pieces" and st.digest == digest_of(second) and st.fallbacks == {}
        assert st.fetched_bytes == sum(n for k, n in backend.reads[1:])
        assert st.fetched_bytes < len(second) / 10
        assert st.fetched_bytes_total == st.fetched_bytes + len(first)  # start-up read it whole
    finally:
        d.close()


def test_a_new_client_against_an_older_store_reads_whole_bundles(pub: Publisher, two: tuple[bytes, bytes],
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    _, second = two
    client, d, _ = delivery(pub)
    try:
        root = Path(pub.url.removeprefix("file://"))
        for data in (second, wide({1: -1}, flags=FLAGS), wide({2: -2}, flags=FLAGS)):
            pub.publish(data=data)
            shutil.rmtree(root / "manifests")  # as an older publisher leaves the store
            shutil.rmtree(root / "chunks")
            with caplog.at_level("INFO", "safeflags"):
                assert d.refresh()
            assert d.status().digest == digest_of(data) and d.status().fetched == "whole"
        assert values(client, 2, 1) == [-2, 1]
        assert d.status().fallbacks == {"no_manifest": 3}
        told = [r for r in caplog.records if "no_manifest" in r.getMessage()]
        assert len(told) == 1 and told[0].levelname == "INFO"  # once, not on every update
        assert d.status().healthy
    finally:
        d.close()


def test_an_older_client_reads_the_new_store_unchanged(pub: Publisher, two: tuple[bytes, bytes]) -> None:
    """What a client of the last release does: the pointer, then bundles/<digest>.pb."""
    _, second = two
    pub.publish(data=second)
    store = open_store(pub.url)
    obj = store.backend.get(pointer_key("prod"))
    assert obj is not None
    ptr = store.pointer("prod")
    assert ptr.format == 1 and ptr.digest == digest_of(second)
    snap = Snapshot.from_bytes(store.bundle(ptr.digest), digest=ptr.digest)
    assert snap.digest == digest_of(second)


def _broken(kind: str, pub: Publisher, first: bytes, second: bytes) -> None:
    root = Path(pub.url.removeprefix("file://"))
    if kind == "bad_chunk":
        chunk_path(pub, second, first).write_bytes(b"\x2a\x00" * 40)
    elif kind == "missing_chunk":
        chunk_path(pub, second, first).unlink()
    elif kind == "bad_manifest":
        (root / manifest_key(digest_of(second))).write_bytes(b"\xff\xfe not a manifest")
    elif kind == "bad_pieces":
        # Forged: the first version's manifest (every chunk present and
        # matching) relabelled as the second's; it assembles to the wrong bundle.
        forged = chunks.manifest_of(first)[0]  # type: ignore[index]
        forged.digest = digest_of(second)
        (root / manifest_key(digest_of(second))).write_bytes(forged.SerializeToString())


@pytest.mark.parametrize("kind", ["bad_chunk", "missing_chunk", "bad_manifest", "bad_pieces"])
def test_anything_wrong_with_the_pieces_costs_the_whole_bundle_only(
        pub: Publisher, two: tuple[bytes, bytes], kind: str, tmp_path: Path) -> None:
    first, second = two
    client, d, backend = delivery(pub, cache_dir=tmp_path / "cache")
    try:
        pub.publish(data=second)
        _broken(kind, pub, first, second)
        assert d.refresh()
        st = d.status()
        assert st.digest == digest_of(second) and st.fetched == "whole" and st.healthy
        assert st.fallbacks == {kind: 1} and st.faults == {}
        assert values(client, 321, 320) == [-321, 320]
        assert any(k.startswith("bundles/") for k, _ in backend.reads)
        assert [p.read_bytes() for p in (tmp_path / "cache").glob("prod-*.pb")] == [second]
    finally:
        d.close()


def test_a_fault_only_when_the_whole_bundle_is_bad_too(pub: Publisher, two: tuple[bytes, bytes]) -> None:
    first, second = two
    client, d, _ = delivery(pub)
    try:
        pub.publish(data=second)
        _broken("bad_chunk", pub, first, second)
        bundle = Path(pub.url.removeprefix("file://")) / "bundles" / f"{digest_of(second)}.pb"
        bundle.write_bytes(second[:-10])
        assert not d.refresh()
        st = d.status()
        assert st.faults == {"digest_mismatch": 1} and st.fallbacks == {"bad_chunk": 1}
        assert st.digest == digest_of(first) and values(client, 321) == [321]
    finally:
        d.close()


def test_the_cache_holds_the_assembled_bundle(pub: Publisher, two: tuple[bytes, bytes], tmp_path: Path) -> None:
    _, second = two
    _, d, _ = delivery(pub, cache_dir=tmp_path / "cache")
    try:
        pub.publish(data=second)
        assert d.refresh() and d.status().fetched == "pieces"
    finally:
        d.close()
    cached = list((tmp_path / "cache").glob("prod-*.pb"))
    assert [p.read_bytes() for p in cached] == [second]


def test_signed_updates_in_pieces_are_checked_as_whole_ones(signed: Publisher) -> None:
    first, second = wide(flags=FLAGS), wide({9: -9}, flags=FLAGS)
    signed.publish(data=first)
    client, d, _ = delivery(signed, public_key=signed.public_pem)
    try:
        signed.publish(data=second)
        assert d.refresh() and d.status().fetched == "pieces" and values(client, 9) == [-9]
        # The same bytes under a pointer whose signature is not the publisher's: refused.
        store = signed.store
        from safeflags.delivery.signature import Signer
        from tests.helpers.delivery import new_keypair
        signed.key = new_keypair()[0]
        store.publish(wide({9: -9, 10: -10}, flags=FLAGS), "prod", signer=Signer(signed.key))
        assert not d.refresh()
        assert d.status().digest == digest_of(second) and not d.status().healthy
    finally:
        d.close()


def test_a_mostly_new_bundle_is_fetched_whole_without_counting_a_fallback(pub: Publisher,
                                                                          two: tuple[bytes, bytes]) -> None:
    client, d, backend = delivery(pub)
    try:
        pub.publish(data=wide({i: -i for i in range(0, FLAGS, 5)}, flags=FLAGS))  # touches every chunk
        assert d.refresh()
        assert d.status().fetched == "whole" and d.status().fallbacks == {}
        assert len([k for k, _ in backend.reads if k.startswith("chunks/")]) <= MAX_CHUNK_REQUESTS
        assert values(client, 5, 6) == [-5, 6]
    finally:
        d.close()


def test_a_chunk_gc_takes_under_a_racing_publish_costs_the_whole_bundle(pub: Publisher) -> None:
    """gc lists the manifests while a publish has written its chunks but not its
    manifest yet, and takes a chunk the publish found present (so did not write)."""
    v0, v1 = wide(flags=FLAGS), wide({100: -1}, flags=FLAGS)  # v1 replaces v0's chunk holding w.0100 ...
    v2 = wide({4000: -4}, flags=FLAGS)  # ... which v2 has again (with another change elsewhere)
    pub.publish(data=v0)
    pub.publish(data=v1)
    client, d, _ = delivery(pub)
    root = Path(pub.url.removeprefix("file://"))

    class Racing(FileBackend):
        def put(self, key: str, data: bytes, *, if_match: str | None = None, if_absent: bool = False) -> str:
            if key == manifest_key(digest_of(v2)):
                report = BundleStore(FileBackend(root)).gc(keep=1, min_age=0, now=time.time() + 10)
                assert digest_of(v0) in report.deleted and report.chunks
            return super().put(key, data, if_match=if_match, if_absent=if_absent)

    try:
        BundleStore(Racing(root)).publish(v2, "prod")
        assert d.refresh()
        st = d.status()
        assert st.digest == digest_of(v2) and st.fetched == "whole" and st.healthy
        assert st.fallbacks == {"missing_chunk": 1}
        assert values(client, 100, 4000) == [100, -4]
    finally:
        d.close()


def test_a_small_bundle_is_fetched_whole_in_one_request(pub: Publisher) -> None:
    small = wide(flags=100)
    assert len(small) < MIN_PIECES_SIZE
    pub.publish(data=small)
    client, d, backend = delivery(pub)
    try:
        pub.publish(data=wide({3: -3}, flags=100))
        assert d.refresh() and values(client, 3) == [-3]
        assert [k.split("/")[0] for k, _ in backend.reads] == ["channels", "bundles"]
        assert d.status().fetched == "whole" and d.status().fallbacks == {}
    finally:
        d.close()


def test_pieces_through_safeflags_serve(pub: Publisher) -> None:
    from safeflags.serve import FlagServer
    first, second = wide(flags=FLAGS), wide({77: -77}, flags=FLAGS)
    pub.publish(data=first)
    srv = FlagServer(open_store(pub.url), watch_interval=0.05, heartbeat=0.5).start()
    try:
        client = Evaluator()
        d = Delivery(client, store=srv.url, channel="prod", poll_interval=3600, push=False).start()
        try:
            pub.publish(data=second)
            # The server learns of the publish by watching the store.
            wait_until(lambda: d.refresh() or d.status().digest == digest_of(second), what="the update")
            assert values(client, 77) == [-77]
            st = d.status()
            assert st.fetched == "pieces" and st.fallbacks == {} and st.fetched_bytes < len(second) / 10
        finally:
            d.close()
    finally:
        srv.close()
