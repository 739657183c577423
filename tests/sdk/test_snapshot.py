"""Snapshots: lazy preparation, malformed flags, prerequisite cycles."""
from __future__ import annotations

import threading

import pytest

from safeflags import ErrorCode, Evaluator, Reason, Snapshot
from safeflags.sdk import snapshot as snapshot_module
from safeflags.v1 import bundle_pb2
from tests.helpers.builder import Builder

b = Builder()


def test_a_malformed_flag_breaks_only_itself() -> None:
    good = b.flag("good", "bool", [False, True], fallback=1)
    bad_regex = b.flag("bad.regex", "bool", [False, True], [b.rule(b.match("plan", "regex", "("), value=1)])
    bad_index = b.flag("bad.index", "bool", [False, True], [b.rule(b.const(True), value=7)])
    bad_type = b.flag("bad.type", "bool", ["yes", "no"])
    bad_dim = b.flag("bad.dim", "bool", [False, True], [b.rule(b.present("plan"), value=1)])
    bad_dim.rules[0].when.present.dim = 99
    client = Evaluator(Snapshot(b.bundle([good, bad_regex, bad_index, bad_type, bad_dim])))
    for key in ("bad.regex", "bad.index", "bad.type", "bad.dim"):
        d = client.details(key, "dflt", {"plan": "x"})
        assert (d.value, d.error_code) == ("dflt", ErrorCode.PARSE_ERROR), key
    assert client.get_bool("good", False) is True
    assert client.snapshot.warm() == 4


def test_cycles_in_the_fast_path_match_the_reference_and_are_counted() -> None:
    # b.x serves "not a.x"; a.x serves b.x: a cycle, cut where it closes.
    ax = b.flag("a.x", "bool", [False, True], [b.rule(b.flag_is("b.x", True), value=1)])
    bx = b.flag("b.x", "bool", [False, True], [b.rule(b.not_(b.flag_is("a.x", True)), value=1), ])
    me = b.flag("me", "bool", [False, True], [b.rule(b.flag_is("me", False), value=1)])
    snap = Snapshot(b.bundle([ax, bx, me]))
    client = Evaluator(snap)
    for key in ("a.x", "b.x", "me"):
        ref = snap.reference(snap.flags[key], {})
        assert client.details(key, None, {}).value is (ref.value_index == 1)
        assert client.get_bool(key, None, {}) is (ref.value_index == 1)
    assert any("cycle" in p for p in client.status().problems)


def test_deep_prerequisite_chains_are_cut() -> None:
    chain = [b.flag(f"f{i:02d}", "bool", [False, True], [b.rule(b.flag_is(f"f{i + 1:02d}", True), value=1)])
             for i in range(40)]
    chain.append(b.flag("f40", "bool", [False, True], [b.rule(b.present("plan"), value=1)]))
    snap = Snapshot(b.bundle(chain))
    client = Evaluator(snap)
    for key in ("f00", "f10", "f39"):
        ref = snap.reference(snap.flags[key], {"plan": "x"})
        assert client.get_bool(key, None, {"plan": "x"}) is (ref.value_index == 1), key
    assert client.get_bool("f00", None, {"plan": "x"}) is False
    assert client.get_bool("f10", None, {"plan": "x"}) is True


def test_deep_trees_work_and_too_deep_trees_are_refused() -> None:
    expr = b.in_("plan", "pro")
    for _ in range(30):
        expr = b.not_(b.not_(expr))
    client = Evaluator(Snapshot(b.bundle([b.flag("deep", "bool", [False, True], [b.rule(expr, value=1)])])))
    assert client.get_bool("deep", None, {"plan": "pro"}) is True
    for _ in range(3):  # past check.MAX_DEPTH (64)
        expr = b.not_(b.not_(expr))
    client = Evaluator(Snapshot(b.bundle([b.flag("deeper", "bool", [False, True], [b.rule(expr, value=1)])])))
    assert client.details("deeper", None, {"plan": "pro"}).error_code is ErrorCode.PARSE_ERROR


def test_code_python_cannot_compile_is_interpreted(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kw: object) -> object:
        raise SyntaxError("too many nested parentheses")

    monkeypatch.setattr(snapshot_module, "compile_flag", refuse)
    flag = b.flag("f", "bool", [False, True], [b.rule(b.in_("plan", "pro"), value=1, reason="split")])
    client = Evaluator(Snapshot(b.bundle([flag])))
    assert client.get_bool("f", None, {"plan": "pro"}) is True
    assert client.get_bool("f", None, {"plan": "free"}) is False
    assert client.details("f", None, {"plan": "pro"}).reason is Reason.SPLIT


def test_first_use_from_many_threads_agrees() -> None:
    flags = [b.flag(f"k{i:03d}", "int", [0, i], [b.rule(b.in_("plan", "pro"), value=1)]) for i in range(200)]
    client = Evaluator(Snapshot(b.bundle(flags)))
    results: list[list[int]] = []

    def worker() -> None:
        results.append([client.get_int(f"k{i:03d}", -1, {"plan": "pro"}) for i in range(200)])

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [list(range(200))] * 8


def test_split_on_a_pinned_unit_is_decided_at_load() -> None:
    flag = b.flag("by.tier", "string", ["a", "b"], [
        b.rule(b.const(True), split=b.split("tier", "s", [(0, 50_000), (1, 100_000)]), reason="split")])
    snap = Snapshot(b.bundle([flag]), static={"tier": 3})
    entry = snap.entry("by.tier")
    assert entry is not None and entry.spec is not None and entry.spec.constant is not None
    assert Evaluator(snap).details("by.tier", None).reason is Reason.STATIC
    # Pinned to something that is no unit: the split never matches.
    snap = Snapshot(b.bundle([flag]), static={"tier": 2.5})
    assert Evaluator(snap).details("by.tier", None).reason is Reason.STATIC


def test_unknown_oneof_members_do_not_escape() -> None:
    flag = b.flag("empty.when", "bool", [False, True], [bundle_pb2.Rule(value=1)])
    d = Evaluator(Snapshot(b.bundle([flag]))).details("empty.when", "dflt")
    assert d.error_code is ErrorCode.PARSE_ERROR
