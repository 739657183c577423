"""Publishing writes a bundle's chunks and manifest beside it; gc takes them
when no surviving bundle lists them (safeflags/store/pieces.py, gc.py)."""
from __future__ import annotations

import time
from pathlib import Path

from safeflags.sdk import chunks
from safeflags.store import BundleStore, Obj, digest_of, open_store
from safeflags.store.file import FileBackend
from safeflags.store.layout import chunk_key, manifest_key
from tests.helpers.builder import Builder

FLAGS = 600  # about ten chunks


def wide(changed: dict[int, int] | None = None, flags: int = FLAGS) -> bytes:
    """A bundle of `flags` int flags `w.NNNN` serving their number, but for those in `changed`."""
    changed = changed or {}
    b = Builder()
    return b.data([b.flag(f"w.{i:04d}", "int", [changed.get(i, i)]) for i in range(flags)])


def manifest(store: BundleStore, data: bytes) -> chunks.bundle_pb2.BundleManifest:
    obj = store.backend.get(manifest_key(digest_of(data)))
    assert obj is not None, "no manifest written"
    return chunks.read_manifest(obj.data, digest_of(data), max_size=store.backend.limits.bundle)


def chunk_keys(store: BundleStore) -> set[str]:
    return {e.key for e in store.backend.list("chunks/")}


def stored(store: BundleStore) -> set[str]:
    """The names ("sha256-<hex>") of the chunks in the store."""
    return {k[len("chunks/"):-len(".pb")] for k in chunk_keys(store)}


def listed(store: BundleStore, data: bytes) -> set[str]:
    return {chunks.chunk_name(c.sha256) for c in manifest(store, data).chunks}


class Counting(FileBackend):
    """Records the keys written."""

    def __init__(self, root: Path):
        super().__init__(root, create=True)
        self.puts: list[str] = []

    def put(self, key: str, data: bytes, *, if_match: str | None = None, if_absent: bool = False) -> str:
        self.puts.append(key)
        return super().put(key, data, if_match=if_match, if_absent=if_absent)


def test_publish_writes_chunks_then_manifest_beside_the_bundle(store_url: str) -> None:
    store = open_store(store_url, create=True)
    data = wide()
    _, ptr = store.publish(data, "prod")
    m = manifest(store, data)
    assert len(m.chunks) > 3 and m.size == len(data) and m.digest == ptr.digest
    parts = []
    for entry in m.chunks:
        obj = store.backend.get(chunk_key(chunks.chunk_name(entry.sha256)))
        assert isinstance(obj, Obj)
        parts.append(obj.data)
    assert m.head + b"".join(parts) + m.tail == data
    assert store.bundle(ptr.digest) == data  # still there whole, for older clients
    assert len(chunk_keys(store)) == len(m.chunks)


def test_a_one_flag_change_writes_one_or_two_chunks(store_url: str) -> None:
    store = open_store(store_url, create=True)
    store.publish(wide(), "prod")
    before = stored(store)
    store.publish(wide({123: -1}), "prod")
    added = stored(store) - before
    assert 1 <= len(added) <= 2
    assert added <= listed(store, wide({123: -1})) <= before | added


def test_chunks_of_the_served_bundle_are_not_even_probed(tmp_path: Path) -> None:
    backend = Counting(tmp_path / "store")
    store = BundleStore(backend)
    store.publish(wide(), "prod")
    backend.puts.clear()
    store.publish(wide({7: -7}), "prod")
    written = [k for k in backend.puts if k.startswith("chunks/")]
    assert 1 <= len(written) <= 2
    # The manifest after its chunks, the bundle after its manifest.
    order = [k.split("/")[0] for k in backend.puts if k.startswith(("chunks/", "manifests/", "bundles/"))]
    assert order == ["chunks"] * len(written) + ["manifests", "bundles"]


def test_a_bundle_that_cannot_be_cut_is_stored_whole_only(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path}/s", create=True)
    b = Builder()
    z = b.flag("z.x", "int", [2]).SerializeToString()
    # Its flags are not one run (format_version repeated between them): not written by our packer.
    data = b.data([b.flag("a.x", "int", [1])]) + bytes([0x08, 0x01, 0x2A, len(z)]) + z
    assert chunks.split(data) is None
    store.publish(data, "odd")
    assert store.backend.get(manifest_key(digest_of(data))) is None
    assert store.bundle(digest_of(data)) == data
    assert chunk_keys(store) == set()


def test_gc_takes_the_manifest_with_its_bundle_and_unlisted_chunks(store_url: str) -> None:
    store = open_store(store_url, create=True)
    versions = [wide(), wide({10: -1}), wide({10: -1, 300: -3}), wide({10: -1, 300: -3, 590: -5})]
    for data in versions:
        store.publish(data, "prod")
    names = [listed(store, d) for d in versions]
    report = store.gc(keep=2, min_age=0, now=time.time() + 10)
    assert set(report.deleted) == {digest_of(versions[0]), digest_of(versions[1])}
    for data in versions[:2]:
        assert store.backend.get(manifest_key(digest_of(data))) is None
    kept = names[2] | names[3]
    assert stored(store) == kept
    assert set(report.chunks) == (names[0] | names[1]) - kept != set()
    for data in versions[2:]:  # what survives still assembles
        m = manifest(store, data)
        assert m.head + b"".join(store.backend.get(chunk_key(chunks.chunk_name(c.sha256))).data  # type: ignore[union-attr]
                                 for c in m.chunks) + m.tail == data


def test_gc_spares_recent_chunks_and_dry_run_deletes_nothing(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path}/s", create=True)
    store.publish(wide(), "prod")
    store.publish(wide({1: -1}), "prod")
    before = chunk_keys(store)
    assert store.gc(keep=1).chunks == []  # everything is younger than min_age
    dry = store.gc(keep=1, min_age=0, now=time.time() + 10, dry_run=True)
    assert dry.chunks and chunk_keys(store) == before
    assert store.backend.get(manifest_key(digest_of(wide()))) is not None


def test_gc_removes_a_manifest_left_without_its_bundle(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path}/s", create=True)
    store.publish(wide(), "prod")
    orphan = wide({5: 55})
    from safeflags.store import pieces
    pieces.write(store.backend, orphan, digest_of(orphan), set())  # a publisher killed before the bundle
    assert store.backend.get(manifest_key(digest_of(orphan))) is not None
    assert store.gc(keep=1).chunks == []  # recent: it may be a publish in flight
    report = store.gc(keep=1, min_age=0, now=time.time() + 10)
    assert store.backend.get(manifest_key(digest_of(orphan))) is None
    assert len(report.chunks) in (1, 2)
    assert store.backend.get(manifest_key(digest_of(wide()))) is not None
