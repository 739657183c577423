"""Taking in a bundle against the previous snapshot: what is reused, what is
prepared again, what is refused, and that the previous snapshot is let go."""
from __future__ import annotations

import gc
import pathlib
import weakref
from collections.abc import Iterator

import pytest

from safeflags.sdk import chunks
from safeflags.sdk.evaluator import Evaluator
from safeflags.sdk.kernel.errors import BundleError
from safeflags.sdk.snapshot import Snapshot, SnapshotRetired
from safeflags.v1 import bundle_pb2
from tests.helpers.builder import Builder
from tests.sdk.test_intake_property import cut

b = Builder()
KEYS = [f"k{i:03d}" for i in range(40)]
BOUNDS = {"k009", "k019", "k029"}  # four chunks of ten flags


def plain(key: str, value: int = 1) -> bundle_pb2.CompiledFlag:
    """A flag that reads the request (so it compiles to a function) and has no prerequisite."""
    return b.flag(key, "int", [0, value, 7], [b.rule(b.in_("plan", "pro"), value=1)], fallback=2)


def version(*, low: str = "on", extra: bool = False, top_rules: int = 1) -> list[bundle_pb2.CompiledFlag]:
    """Forty plain flags plus a chain: y.top -> y.mid -> y.low, y.low a constant."""
    flags = [plain(k) for k in KEYS]
    flags.append(b.flag("y.low", "string", ["off", "on"], fallback=["off", "on"].index(low)))
    flags.append(b.flag("y.mid", "bool", [False, True],
                        [b.rule(b.all_(b.flag_is("y.low", "on"), b.in_("plan", "pro")), value=1)]))
    top = [b.rule(b.flag_is("y.mid", True), value=1)] * top_rules
    flags.append(b.flag("y.top", "bool", [False, True], top))
    if extra:
        flags.append(plain("k0055"))
    return flags


def pieces_of(flags: list[bundle_pb2.CompiledFlag]) -> chunks.Pieces:
    return cut(b.data(flags), BOUNDS)


def build(flags: list[bundle_pb2.CompiledFlag], previous: Snapshot | None) -> Snapshot:
    p = pieces_of(flags)
    return Snapshot.from_pieces(p, digest=p.digest(), previous=previous)


@pytest.fixture
def no_gc() -> Iterator[None]:
    """Reference counting alone: a cycle would keep what these tests drop."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def test_unchanged_flags_are_the_same_prepared_objects() -> None:
    old = build(version(), None)
    for key in KEYS[:30]:
        old.entry(key)
    flags = version()
    flags[15] = plain("k015", value=5)  # one flag of the second chunk
    new = build(flags, old)
    # Every other prepared flag is reused as it was, in its own chunk or in the changed one.
    assert all(new._entries[k] is old._entries[k] for k in KEYS[:30] if k != "k015")
    assert new.fast_int["k001"] is old.fast_int["k001"]
    # The changed flag was prepared (it was hot), here, not on first use; its new value serves.
    assert "k015" in new._entries and new._entries["k015"] is not old._entries["k015"]
    assert Evaluator(new).get_int("k015", -1, {"plan": "pro"}) == 5
    # A flag never prepared before stays lazy.
    assert "k035" not in new._entries
    assert new.chunk_index().keys() - old.chunk_index().keys()  # one new chunk
    assert len(new.chunk_index().keys() & old.chunk_index().keys()) == 3


def test_a_changed_prerequisite_prepares_its_dependents_again() -> None:
    old = build(version(low="on"), None)
    ev = Evaluator(old)
    assert ev.get_bool("y.top", None, {"plan": "pro"}) is True
    new = build(version(low="off"), old)
    # y.mid folded y.low in; y.top inlined y.mid's specialised form: both are stale.
    assert new._entries["y.top"] is not old._entries["y.top"]
    assert Evaluator(new).get_bool("y.top", None, {"plan": "pro"}) is False
    assert Evaluator(new).get_bool("y.mid", None, {"plan": "pro"}) is False
    fresh = Snapshot.from_bytes(b.data(version(low="off")))
    assert Evaluator(fresh).get_bool("y.top", None, {"plan": "pro"}) is False


def test_an_added_key_that_was_a_missing_prerequisite_invalidates_its_reader() -> None:
    reader = b.flag("r", "bool", [False, True], [b.rule(b.flag_is("zz.later", True), value=1)])
    old = Snapshot.from_bytes(b.data([reader]))
    assert Evaluator(old).get_bool("r", None, {}) is False
    later = b.flag("zz.later", "bool", [False, True], fallback=1)
    new = Snapshot.from_bytes(b.data([reader, later]), previous=old)
    assert Evaluator(new).get_bool("r", None, {}) is True


def test_reused_code_calls_prerequisites_in_the_new_snapshot_and_lets_the_old_go(no_gc: None) -> None:
    old = build(version(), None)
    old.warm()
    gone = weakref.ref(old)
    flags = version()
    flags[3] = plain("k003", value=4)  # nothing in the chain changes
    new = build(flags, old)
    helper = old._prereq
    del old, flags
    assert gone() is None  # no cycle and no reused entry keeps it
    top = new.entry("y.top")
    assert top is not None
    defaults = _all_defaults(top.fast)
    assert new._prereq in defaults and helper not in defaults
    assert Evaluator(new).get_bool("y.top", None, {"plan": "pro"}) is True


def _all_defaults(fn: object) -> list[object]:
    out: list[object] = []
    pending = [fn]
    while pending:
        for value in getattr(pending.pop(), "__defaults__", None) or ():
            out.append(value)
            if callable(value) and getattr(value, "__code__", None) is not None and value.__code__.co_name in (
                    "_flag", "_graph"):
                pending.append(value)
    return out


def test_a_swapped_out_snapshot_is_freed_with_or_without_freezing(no_gc: None) -> None:
    ev = Evaluator(build(version(), None))
    ev.snapshot.warm()
    for freeze in (False, True):
        first = weakref.ref(ev.snapshot)
        ev.freeze_on_swap = freeze
        try:
            ev.swap(build(version(top_rules=2), ev.snapshot))
            ev.swap(build(version(top_rules=3 if freeze else 4), ev.snapshot))
        finally:
            gc.unfreeze()
        assert first() is None
        assert ev.get_bool("y.top", None, {"plan": "pro"}) is True


def test_code_that_outlives_its_snapshot_raises_for_the_caller_to_resolve_again(no_gc: None) -> None:
    snap = build(version(), None)
    top = snap.entry("y.top")
    assert top is not None
    fn = top.fast
    assert fn({"plan": "pro"}, ("caller",), None) is True  # as a prerequisite: through the helper
    del snap, top
    with pytest.raises(SnapshotRetired):
        fn({"plan": "pro"}, ("caller",), None)


def test_from_bytes_with_previous_reuses_too() -> None:
    old = Snapshot.from_bytes(b.data(version()))
    old.warm()
    new = Snapshot.from_bytes(b.data(version(extra=True)), previous=old)
    assert new._entries["k001"] is old._entries["k001"]
    assert list(new.flags) == sorted(new.flags)
    assert new.warm() == 0
    assert "k0055" in new._entries


@pytest.mark.parametrize("change", ["dimensions", "static", "string"])
def test_a_changed_header_or_static_context_reuses_nothing(change: str) -> None:
    flags = version()
    bundle = b.bundle(flags)
    old = Snapshot.from_bytes(bundle.SerializeToString(deterministic=True), static={"region": "eu"})
    old.warm()
    static = {"region": "eu"}
    if change == "dimensions":
        bundle.dimensions[0].static = True
    elif change == "static":
        static = {"region": "us"}
    else:
        bundle.strings[b.strings.index("pro")] = "pro2"
    new = Snapshot.from_bytes(bundle.SerializeToString(deterministic=True), static=static, previous=old)
    assert not any(new._entries.get(k) is e for k, e in old._entries.items())
    assert len(new._entries) == len(old._entries)  # what was hot is prepared again, now
    if change == "string":
        assert Evaluator(new).get_int("k001", -1, {"plan": "pro"}) == 7  # "pro" is no longer in its set


def test_digest_mismatch_is_a_bundle_error() -> None:
    old = build(version(), None)
    p = pieces_of(version(low="off"))
    with pytest.raises(BundleError, match="digest mismatch"):
        Snapshot.from_pieces(p, digest=old.digest, previous=old)
    with pytest.raises(BundleError):
        Snapshot.from_pieces(p, digest="sha256-" + "0" * 64)


def _bad_pieces(kind: str, good: chunks.Pieces) -> chunks.Pieces:
    head, parts, tail = good.head, list(good.chunks), good.tail
    if kind == "not a flag field":
        parts[1] = b"\x08\x01" + parts[1]  # field 1 (format_version) inside a chunk
    elif kind == "truncated record":
        parts[1] = parts[1][:-3]
    elif kind == "bad wire type":
        parts[1] = parts[1] + b"\x2f"
    elif kind == "unsorted":
        parts[1], parts[2] = parts[2], parts[1]
    elif kind == "duplicated":
        parts[2] = parts[1]
    elif kind == "flag in head":
        head = head + parts.pop(1)
    elif kind == "bad utf-8 key":
        bad = b.flag("k\xff", "bool", [False, True])
        record = bad.SerializeToString(deterministic=True).replace("k\xff".encode(), b"k\xff\xfe")
        parts[1] = parts[1] + b"\x2a" + bytes([len(record)]) + record
    elif kind == "record names another key":
        record = b"\x0a\x05k0195" + b"\x0a\x04zzzz"  # key given twice: the message's key is the last
        parts[1] = parts[1] + b"\x2a" + bytes([len(record)]) + record
    elif kind == "garbage message":
        record = b"\x0a\x05k0195" + b"\x10\xff"  # a varint that never ends
        parts[1] = parts[1] + b"\x2a" + bytes([len(record)]) + record
    return chunks.Pieces(head, tuple(parts), tail)


@pytest.mark.parametrize("kind", ["not a flag field", "truncated record", "bad wire type", "unsorted", "duplicated",
                                  "flag in head", "bad utf-8 key", "record names another key", "garbage message"])
@pytest.mark.parametrize("with_previous", [True, False])
def test_a_chunk_that_is_not_a_valid_flag_run_is_refused(kind: str, with_previous: bool) -> None:
    old = build(version(), None)
    old.warm()
    bad = _bad_pieces(kind, pieces_of(version(low="off")))
    with pytest.raises(BundleError):
        Snapshot.from_pieces(bad, digest=bad.digest(), previous=old if with_previous else None)
    Evaluator(old).get_bool("y.top", None, {"plan": "pro"})  # the previous snapshot is untouched


def test_chunks_cut_matches_split_and_reads_key_ranges() -> None:
    data = b.data(version())
    found = chunks.cut(data)
    assert found is not None
    assert found.pieces == chunks.split(data)
    assert found.bounds == tuple(chunks.key_range(c) for c in found.pieces.chunks)
    assert found.bounds[0] is not None and found.bounds[0][0] == "k000"
    with pytest.raises(ValueError):
        chunks.key_range(found.pieces.chunks[0] * 2)  # the same keys twice


def test_from_bytes_with_previous_refuses_an_unsorted_bundle_as_a_fresh_parse_does() -> None:
    old = Snapshot.from_bytes(b.data(version()))
    bundle = b.bundle(version())
    bundle.flags[11].key, bundle.flags[12].key = bundle.flags[12].key, bundle.flags[11].key
    data = bundle.SerializeToString(deterministic=True)
    with pytest.raises(BundleError, match="not sorted"):
        Snapshot.from_bytes(data)
    with pytest.raises(BundleError, match="not sorted"):
        Snapshot.from_bytes(data, previous=old)


def test_load_bytes_builds_on_the_served_snapshot() -> None:
    ev = Evaluator.from_bytes(b.data(version()))
    ev.snapshot.warm()
    first = ev.snapshot
    ev.load_bytes(b.data(version(low="off")))
    assert ev.snapshot is not first
    assert ev.snapshot._entries["k001"] is first._entries["k001"]
    assert ev.get_bool("y.top", None, {"plan": "pro"}) is False


def test_the_delivery_client_freezes_after_a_swap_unless_told_not_to(tmp_path: pathlib.Path) -> None:
    from safeflags.delivery import Client
    from safeflags.store import open_store

    data = b.data(version())
    open_store(str(tmp_path / "store"), create=True).publish(data, "prod")
    before = gc.get_freeze_count()
    try:
        with Client(store=str(tmp_path / "store"), channel="prod", push=False) as frozen:
            assert frozen.freeze_on_swap and gc.get_freeze_count() > before
        with Client(store=str(tmp_path / "store"), channel="prod", push=False, gc_freeze=False) as plain:
            assert not plain.freeze_on_swap
    finally:
        gc.unfreeze()
