"""Generated code on the hand-picked cases of the reference interpreter, and
the properties the code generator promises (no bundle text in the source,
shared code objects)."""
from __future__ import annotations

import pytest

from safeflags.sdk import codegen, graph
from safeflags.sdk.codegen import compile_flag, compile_graph
from safeflags.sdk.details import Reason
from safeflags.sdk.interpret import PrerequisiteMemo
from safeflags.sdk.kernel.bucketing import bucket
from safeflags.sdk.partial import SpecializedFlag, SpecializedRule
from safeflags.sdk.snapshot import Snapshot
from tests.sdk.test_interpret import CASES, b


def compiled(expr: object) -> object:
    rule = SpecializedRule(0, expr, 1, None, Reason.TARGETING_MATCH, "", 0)  # type: ignore[arg-type]
    spec = SpecializedFlag(b.flag("k", "bool", [False, True]), (rule,), None)
    return compile_flag(spec, (False, True), [d.name for d in b.dims], b.strings)


@pytest.mark.parametrize("expr, ctx, expected", CASES)
def test_generated_code_on_reference_cases(expr: object, ctx: dict[str, object], expected: bool) -> None:
    fn = compiled(expr)
    try:
        assert fn(ctx) is expected  # type: ignore[operator]
    except UnicodeEncodeError:
        assert ctx == {"user_id": "\ud800"}  # handed back to the reference interpreter


def test_bundle_text_never_reaches_the_source() -> None:
    evil = '"); import os; os.system("echo pwned"); ("'
    expr = b.all_(b.in_("plan", evil), b.match("country", "regex", evil.replace("(", "").replace(")", "")),
                  b.bucket("user_id", evil, 0, 10))
    codegen._CODE_CACHE.clear()
    compiled(expr)
    (source,) = codegen._CODE_CACHE
    assert "pwned" not in source and "plan" not in source and "user_id" not in source


def test_flags_of_the_same_shape_share_code() -> None:
    a = compiled(b.all_(b.in_("country", "US"), b.bucket("user_id", "a", 0, 10)))
    c = compiled(b.all_(b.in_("plan", "pro", "team"), b.bucket("age", "other", 0, 99_000)))
    assert a.__code__ is c.__code__  # type: ignore[attr-defined]
    # ...while each keeps its own bound values.
    assert a({"country": "US", "user_id": "x"}) is (bucket("a", "x") < 10)  # type: ignore[operator]
    assert c({"plan": "team", "age": 5}) is (bucket("other", "5") < 99_000)  # type: ignore[operator]
    assert c({"country": "US", "user_id": "x"}) is False  # type: ignore[operator]


def test_non_mapping_context_is_invalid_and_none_is_empty() -> None:
    fn = compiled(b.not_(b.present("plan")))
    assert fn(None) is True  # type: ignore[operator]
    with pytest.raises(Exception, match="mapping"):
        fn([("plan", "x")])  # type: ignore[operator]


def graph_of(flags: list[object], top: str) -> tuple[Snapshot, SpecializedFlag, list[SpecializedFlag]]:
    snap = Snapshot(b.bundle(flags))  # type: ignore[arg-type]
    spec = snap._specialized(top)
    assert spec is not None
    below = graph.reached(spec, snap._specialized)
    assert below is not None
    return snap, spec, below


EVIL = '"); import os; os.system("echo pwned"); ("'
DIAMOND = [
    b.flag("top", "bool", [False, True], [b.rule(b.all_(b.flag_is(f"l{EVIL}", True), b.flag_is("r", EVIL)), value=1)]),
    b.flag(f"l{EVIL}", "bool", [False, True], [b.rule(b.flag_is("base", True), value=1)]),
    b.flag("r", "string", ["a", EVIL], [b.rule(b.flag_is("base", True), value=1)]),
    b.flag("base", "bool", [False, True], [b.rule(b.bucket("user_id", EVIL, 0, 50_000), value=1)]),
]


def test_a_graph_is_one_function_computing_each_flag_once_bottom_up() -> None:
    snap, _, below = graph_of(DIAMOND, "top")
    assert [s.flag.key for s in below] == ["base", f"l{EVIL}", "r"]  # each once, after what it requires
    codegen._CODE_CACHE.clear()
    fn = snap.entry("top").fast  # type: ignore[union-attr]
    sources = [s for s in codegen._CODE_CACHE if s.startswith("def _graph")]
    assert fn.__name__ == "_graph" and len(sources) == 1
    assert "pwned" not in sources[0] and "user_id" not in sources[0]
    assert sources[0].count("ctx.get(") == 1  # `base` is read once although two flags require it
    for unit in ("u-1", "u-2", "u-3", 7):
        assert fn({"user_id": unit}) is (bucket(EVIL, str(unit)) < 50_000)


def test_a_graph_hands_prerequisite_requests_and_raising_values_to_its_memo() -> None:
    snap, spec, below = graph_of(DIAMOND, "top")
    asked: list[tuple[object, ...]] = []

    def memo(*args: object) -> object:
        asked.append(args)
        return "memo"

    fn = compile_graph(spec, (False, True), snap.env.names, snap.env.strings, below, memo)
    assert fn({"user_id": "u-1"}) in (False, True) and asked == []
    served = PrerequisiteMemo()
    assert fn({"user_id": "u-1"}, ("other",), served) == "memo"  # met as a prerequisite: the request's memo
    assert asked == [({"user_id": "u-1"}, ("other",), served)]
    asked.clear()
    assert fn({"user_id": "\ud800"}) == "memo"  # a unit the inline code cannot hash
    assert asked == [({"user_id": "\ud800"},)]
