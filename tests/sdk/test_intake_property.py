"""An incrementally built snapshot serves exactly what a fresh one does, for
the same bytes, across random edits of the previous bundle."""
from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from safeflags.sdk import chunks
from safeflags.sdk.evaluator import TYPE_NAMES, Evaluator
from safeflags.sdk.snapshot import Snapshot
from safeflags.v1 import bundle_pb2
from tests.helpers.builder import Builder
from tests.helpers.strategies import FLAG_KEYS, NAMES, contexts, flags, statics

SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
RANDOM_KEYS = [*FLAG_KEYS, "c.five"]
KEYS = [*RANDOM_KEYS, "y.low", "y.mid", "y.top", "z.in"]
EDITS = ["change", "add", "remove", "rename", "prerequisite", "cycle", "string", "shift", "dimensions", "static",
         "nothing"]


def cut(data: bytes, boundaries: set[str]) -> chunks.Pieces:
    """`data` in pieces whose chunks close after each key in `boundaries` (and at the end),
    as chunks.split cuts by key hash: an unchanged run of keys keeps its bytes."""
    whole = chunks.split(data)
    assert whole is not None
    run = b"".join(whole.chunks)
    out: list[bytes] = []
    start = 0
    pos = 0
    for key, record in chunks.flag_records(run):
        pos += len(record)
        if key.decode() in boundaries:
            out.append(run[start:pos])
            start = pos
    if start < len(run):
        out.append(run[start:])
    return chunks.Pieces(whole.head, tuple(out), whole.tail)


def answers(snapshot: Snapshot, ctxs: Sequence[object]) -> list[tuple[object, ...]]:
    """What every flag (and a missing one) serves, by details and by its typed getter."""
    ev = Evaluator(snapshot)
    out: list[tuple[object, ...]] = []
    for key in [*KEYS, "missing"]:
        flag = snapshot.flags.get(key)
        for ctx in ctxs:
            d = ev.details(key, "default", ctx)
            row: tuple[object, ...] = (key, repr(d.value), d.variant, d.reason, d.error_code, d.error_message)
            if flag is not None:
                getter: Callable[..., object] = getattr(ev, f"get_{TYPE_NAMES[flag.type]}")
                row = (*row, repr(getter(key, "default", ctx)))
            out.append(row)
    return out


@st.composite
def edit(draw: st.DrawFn, b: Builder, bundle: bundle_pb2.Bundle) -> tuple[bundle_pb2.Bundle, str]:
    """`bundle` after one random edit, and the edit's name."""
    new = copy.deepcopy(bundle)
    kind = draw(st.sampled_from(EDITS))
    present = [f.key for f in new.flags]
    absent = [k for k in KEYS if k not in present]
    flags_by_key = {f.key: f for f in new.flags}
    if kind == "change" or (kind == "add" and not absent):
        key = draw(st.sampled_from(present))
        flags_by_key[key] = draw(flags(b, key, KEYS))
    elif kind == "add":
        key = draw(st.sampled_from(absent))
        flags_by_key[key] = draw(flags(b, key, KEYS))
    elif kind == "remove" and len(present) > 1:
        del flags_by_key[draw(st.sampled_from(present))]
    elif kind == "rename" and absent:
        old, key = draw(st.sampled_from(present)), draw(st.sampled_from(absent))
        moved = flags_by_key.pop(old)
        moved.key = key
        flags_by_key[key] = moved
    elif kind == "prerequisite":
        # A prerequisite's value flips while its dependents keep their bytes.
        key = draw(st.sampled_from(present))
        target = flags_by_key[key]
        target.ClearField("rules")
        target.disabled = False
        target.fallback = draw(st.integers(0, len(target.values) - 1))
    elif kind == "cycle" and len(present) >= 2:
        x, y = draw(st.lists(st.sampled_from(present), min_size=2, max_size=2, unique=True))
        for one, other in ((x, y), (y, x)):
            f = flags_by_key[one]
            f.disabled = False
            f.rules.insert(0, b.rule(b.flag_is(other, draw(st.booleans())), value=0))
    elif kind == "string" and len(new.strings):
        i = draw(st.integers(0, len(new.strings) - 1))
        new.strings[i] = new.strings[i] + "-changed"
    elif kind == "shift":
        # A string inserted at the front: every index moves, every flag that uses one changes bytes.
        table = ["+front", *new.strings]
        del new.strings[:]
        new.strings.extend(table)
        for f in flags_by_key.values():
            _shift(f)
    elif kind == "dimensions":
        i = draw(st.integers(0, len(new.dimensions) - 1))
        new.dimensions[i].static = not new.dimensions[i].static
    del new.flags[:]
    new.flags.extend(sorted(flags_by_key.values(), key=lambda f: f.key))
    new.strings.extend(s for s in b.strings[len(new.strings):] if kind != "shift")  # strings the draws interned
    return new, kind


def _shift(flag: bundle_pb2.CompiledFlag) -> None:
    pending: list[bundle_pb2.Expr] = [r.when for r in flag.rules]
    while pending:
        e = pending.pop()
        node = e.WhichOneof("node")
        if node == "in":
            ids = [i + 1 for i in getattr(e, "in").strings]
            del getattr(e, "in").strings[:]
            getattr(e, "in").strings.extend(ids)
        elif node in ("all", "any"):
            pending.extend(getattr(e, node).items)
        elif node == "not":
            pending.append(getattr(e, "not"))


def anchors(b: Builder, runtime: bool) -> list[bundle_pb2.CompiledFlag]:
    """Flags every history holds: an in-set over interned strings, and a chain
    y.top -> y.mid -> y.low whose bottom is a constant (folded into y.mid) and whose
    middle reads the request or not (then y.top inlines the graph, or folds it)."""
    low = b.flag("y.low", "string", ["off", "on"], fallback=1)
    mid_when = b.all_(b.flag_is("y.low", "on"), b.in_("plan", "pro", "free") if runtime else b.const(True))
    mid = b.flag("y.mid", "bool", [False, True], [b.rule(mid_when, value=1)])
    top = b.flag("y.top", "int", [0, 1, 2], [b.rule(b.flag_is("y.mid", True), value=2),
                                             b.rule(b.in_("country", "US", "GB"), value=1)])
    return [low, mid, top, b.flag("z.in", "bool", [False, True], [b.rule(b.in_("user_id", "user-1", "u-42"), 1)])]


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[bytes], list[dict[str, object]], list[set[str]], list[list[str]]]:
    """A bundle and two successive edits of it: bytes, static context, chunk boundaries and
    the flags warmed in each version."""
    b = Builder()
    keys = draw(st.lists(st.sampled_from(RANDOM_KEYS), min_size=1, max_size=5, unique=True))
    first = b.bundle([*(draw(flags(b, k, KEYS)) for k in keys), *anchors(b, draw(st.booleans()))])
    versions = [first]
    for _ in range(2):
        versions.append(draw(edit(b, versions[-1]))[0])
    static = draw(statics)
    statics_ = [static, *(draw(st.one_of(st.just(static), statics)) for _ in range(2))]
    boundaries = [set(draw(st.lists(st.sampled_from(KEYS), max_size=4))) for _ in versions]
    warmed = [draw(st.lists(st.sampled_from(KEYS), max_size=6)) for _ in versions]
    return [v.SerializeToString(deterministic=True) for v in versions], statics_, boundaries, warmed


@SETTINGS
@given(histories(), st.lists(contexts, min_size=1, max_size=4))
def test_incremental_equals_fresh(history: tuple[list[bytes], list[dict[str, object]], list[set[str]],
                                                 list[list[str]]], ctxs: list[dict[str, object]]) -> None:
    datas, statics_, boundaries, warmed = history
    # Besides the drawn contexts, one per interned string in every dimension: an in-set whose
    # string changed under it answers differently for exactly these.
    strings = {s for data in datas for s in Snapshot.from_bytes(data).env.strings}
    ctxs = [*ctxs, *({name: s for name in NAMES} for s in sorted(strings))]
    previous = Snapshot.from_bytes(datas[0], static=statics_[0])
    previous.warm(k for k in warmed[0] if k in previous.flags)
    answers(previous, ctxs[:1])  # fills details and outcome caches, as serving would
    for data, static, bounds, warm in zip(datas[1:], statics_[1:], boundaries[1:], warmed[1:], strict=True):
        pieces = cut(data, bounds)
        incremental = Snapshot.from_pieces(pieces, static=static, digest=pieces.digest(), previous=previous)
        fresh = Snapshot.from_bytes(data, static=static)
        assert incremental.digest == fresh.digest
        assert list(incremental.flags) == list(fresh.flags)
        assert answers(incremental, ctxs) == answers(fresh, ctxs)
        incremental.warm(k for k in warm if k in incremental.flags)
        answers(incremental, ctxs[:1])
        previous = incremental
    # The same through from_bytes(previous=), which cuts by key hash.
    again = Snapshot.from_bytes(datas[-1], static=statics_[-1], previous=Snapshot.from_bytes(datas[0],
                                                                                             static=statics_[0]))
    assert answers(again, ctxs) == answers(Snapshot.from_bytes(datas[-1], static=statics_[-1]), ctxs)
