"""Prerequisite graphs that try to stall a request: one evaluation per flag
per request in the interpreter, the generated code and any mix of the two;
cycles and paths past the depth cut-off bounded by a budget; and `validate`
refusing graphs too deep or too wide (SF203, limits in safeflags.yaml).

Costs are asserted by counting evaluations, never by time
(benchmarks/prerequisites.py prints the times)."""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from safeflags import Evaluator, Snapshot
from safeflags.compile.config import load_config
from safeflags.compile.driver import CompileResult
from safeflags.sdk import codegen, graph, interpret
from safeflags.sdk import snapshot as snapshot_module
from safeflags.sdk.details import Reason
from safeflags.sdk.interpret import Env, eval_expr, split_value
from safeflags.sdk.values import decoded, strict_equal
from safeflags.source.errors import ConfigError
from safeflags.v1 import bundle_pb2, common_pb2
from safeflags.validation.api import Context
from safeflags.validation.builtin.targeting import Prerequisites as SF203
from safeflags.validation.finding import Finding
from tests.helpers.builder import Builder
from tests.helpers.repo import FlagRepo
from tests.helpers.strategies import contexts

b = Builder()
PRO, FREE = {"plan": "pro"}, {"plan": "free"}


def layered(layers: int = 8, width: int = 8, *, cyclic: bool = False) -> list[bundle_pb2.CompiledFlag]:
    """`layers` layers of `width` flags, each requiring every flag of the next
    layer; the last layer reads the request (`plan`), or with `cyclic`
    requires the first layer again (any one of them, so a cut does not end it)."""
    flags = []
    for layer in range(layers):
        below = [b.flag_is(f"p{(layer + 1) % layers}.f{j}", True) for j in range(width)]
        for i in range(width):
            if cyclic:
                when = b.any_(*below)
            elif layer + 1 < layers:
                when = b.all_(*below)
            else:
                when = b.any_(b.in_("plan", "pro"), b.bucket("user_id", "s", 0, 100_000))
            flags.append(b.flag(f"p{layer}.f{i}", "bool", [False, True], [b.rule(when, value=1)]))
    return flags


REACHED = ["p0.f0", *(f.key for f in layered() if not f.key.startswith("p0."))]
"""What `p0.f0` reaches: itself and every flag of the layers below."""


@pytest.fixture
def generated_calls(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Calls of each flag's generated function, by flag key."""
    calls: Counter[str] = Counter()
    real = snapshot_module.compile_flag

    def compile_counted(spec: object, *args: object, **kwargs: object) -> Callable[..., object]:
        fn = real(spec, *args, **kwargs)  # type: ignore[arg-type]
        key = spec.flag.key  # type: ignore[attr-defined]

        def counted(ctx: object, _stack: tuple[str, ...] = (), _served: object = None) -> object:
            calls[key] += 1
            return fn(ctx, _stack, _served)

        return counted

    monkeypatch.setattr(snapshot_module, "compile_flag", compile_counted)
    return calls


@pytest.fixture
def inlined(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Flags computed inside the one function of a graph (codegen.compile_graph), by flag key: its
    trace hook is called in the generated code as each flag's computation starts."""
    calls: Counter[str] = Counter()
    real = snapshot_module.compile_graph

    def count(key: str) -> None:
        calls[key] += 1

    def compile_traced(*args: object, **kwargs: object) -> Callable[..., object]:
        return real(*args, **kwargs, trace=count)  # type: ignore[arg-type, misc]

    monkeypatch.setattr(snapshot_module, "compile_graph", compile_traced)
    return calls


@pytest.fixture
def interpreted(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Evaluations of each flag by the reference interpreter, by flag key."""
    calls: Counter[str] = Counter()
    real = interpret.evaluate

    def evaluate_counted(flag: bundle_pb2.CompiledFlag, *args: object, **kwargs: object) -> object:
        calls[flag.key] += 1
        return real(flag, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(interpret, "evaluate", evaluate_counted)
    monkeypatch.setattr(snapshot_module, "evaluate", evaluate_counted)
    return calls


def test_the_layered_graph_computes_each_flag_once_in_one_function(generated_calls: Counter[str],
                                                                   inlined: Counter[str]) -> None:
    client = Evaluator(Snapshot(b.bundle(layered())))
    client.snapshot.warm()
    assert client.snapshot.entry("p0.f0").fast.__name__ == "_graph"  # type: ignore[union-attr]
    for round_ in range(2):  # per request: the second request computes everything again, once
        generated_calls.clear()
        inlined.clear()
        assert client.get_bool("p0.f0", None, PRO) is True
        assert inlined == Counter({key: 1 for key in REACHED}), round_
        assert generated_calls == Counter(), round_  # no flag's own function: no memo, no call per prerequisite
    inlined.clear()
    assert client.details("p0.f0", None, PRO).value is True
    assert inlined == Counter({key: 1 for key in REACHED}) and generated_calls == Counter()
    inlined.clear()
    assert client.get_bool("p0.f0", None, FREE) is False  # computed eagerly: every flag, never twice
    assert inlined == Counter({key: 1 for key in REACHED}) and generated_calls == Counter()


def test_a_graph_too_large_to_inline_costs_one_generated_call_per_flag(monkeypatch: pytest.MonkeyPatch,
                                                                      generated_calls: Counter[str],
                                                                      inlined: Counter[str]) -> None:
    monkeypatch.setattr(graph, "MAX_INLINED", len(REACHED) - 2)  # the top flag's graph is one too many
    client = Evaluator(Snapshot(b.bundle(layered())))
    client.snapshot.warm()
    assert client.snapshot.entry("p0.f0").fast.__name__ != "_graph"  # type: ignore[union-attr]
    for round_ in range(2):
        generated_calls.clear()
        inlined.clear()
        assert client.get_bool("p0.f0", None, PRO) is True
        # p1.* are inlined graphs of their own, met as prerequisites: they answer through their memo path.
        assert generated_calls == Counter({key: 1 for key in REACHED}), round_
        assert inlined == Counter(), round_
    generated_calls.clear()
    assert client.details("p0.f0", None, PRO).value is True
    assert generated_calls == Counter({key: 1 for key in REACHED})  # the top one through its `details` function
    generated_calls.clear()
    assert client.get_bool("p0.f0", None, FREE) is False  # unmet at the first of each layer: fewer, never twice
    assert generated_calls and max(generated_calls.values()) == 1


def test_the_layered_graph_costs_one_interpreted_evaluation_per_flag(interpreted: Counter[str]) -> None:
    snap = Snapshot(b.bundle(layered()))
    assert snap.reference(snap.flags["p0.f0"], PRO).value_index == 1
    assert interpreted == Counter({key: 1 for key in REACHED})


def test_generated_code_and_the_interpreter_share_one_memo(generated_calls: Counter[str], inlined: Counter[str],
                                                         interpreted: Counter[str]) -> None:
    # A lone surrogate is a unit the generated code cannot hash. The graph's one function stops at the
    # first flag it computes (a bottom one, the graph is computed bottom up) and hands the request to
    # the memo path: there the last layer falls back to the interpreter, the layers above stay
    # generated, and nothing runs twice.
    ctx = {"plan": "free", "user_id": "\ud800"}
    client = Evaluator(Snapshot(b.bundle(layered())))
    client.snapshot.warm()
    generated_calls.clear()
    inlined.clear()
    assert client.get_bool("p0.f0", None, ctx) is True
    bottom = {f"p7.f{i}" for i in range(8)}
    assert inlined == Counter({"p0.f0": 1, "p7.f0": 1})  # started, stopped at the first unit
    assert generated_calls == Counter({key: 1 for key in REACHED})
    assert interpreted == Counter({key: 1 for key in bottom})


def test_a_flag_without_prerequisites_makes_no_memo(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[object] = []

    class Counted(interpret.PrerequisiteMemo):
        def __init__(self) -> None:
            made.append(self)
            super().__init__()

    monkeypatch.setattr(codegen, "PrerequisiteMemo", Counted)
    plain = b.flag("plain", "bool", [False, True], [b.rule(b.in_("plan", "pro"), value=1)])
    needs = b.flag("needs", "bool", [False, True], [b.rule(b.flag_is("plain", True), value=1)])
    client = Evaluator(Snapshot(b.bundle([plain, needs])))
    client.snapshot.warm()
    assert [client.get_bool("plain", None, PRO) for _ in range(3)] == [True] * 3
    assert made == []
    assert [client.get_bool("needs", None, PRO) for _ in range(3)] == [True] * 3
    assert made == []  # a graph without cuts is one function: it needs no memo
    monkeypatch.setattr(graph, "MAX_INLINED", 0)
    client = Evaluator(Snapshot(b.bundle([plain, needs])))
    assert [client.get_bool("needs", None, PRO) for _ in range(3)] == [True] * 3
    assert len(made) == 3  # one per request, made by the flag that has the prerequisite


def test_a_cyclic_graph_is_cut_by_the_budget(generated_calls: Counter[str], interpreted: Counter[str]) -> None:
    client = Evaluator(Snapshot(b.bundle(layered(cyclic=True))))
    client.snapshot.warm()
    generated_calls.clear()
    assert client.get_bool("p0.f0", "dflt", PRO) is False
    # Every cut path is a different path, so nothing could be shared: the budget ends it.
    assert sum(generated_calls.values()) == interpret.MAX_PREREQUISITE_EVALUATIONS + 1
    snap = client.snapshot
    errors: list[str] = []
    assert snap.reference(snap.flags["p0.f0"], PRO, errors=errors).value_index == 0
    assert sum(interpreted.values()) == interpret.MAX_PREREQUISITE_EVALUATIONS + 1
    assert interpret.BUDGET_SPENT in errors


# --- memoising never changes an answer --------------------------------------------------------------


def served_everywhere(flags: list[bundle_pb2.CompiledFlag], key: str, ctx: Mapping[str, object]) -> set[object]:
    """What `key` serves by the interpreter, the generated code and `details`."""
    client = Evaluator(Snapshot(b.bundle(flags)))
    snap = client.snapshot
    return {snap.entry(key).values[snap.reference(snap.flags[key], ctx).value_index],  # type: ignore[union-attr]
            client.get_bool(key, "dflt", ctx), client.details(key, "dflt", ctx).value}


def test_a_result_cut_by_a_cycle_is_not_reused() -> None:
    # a needs b and c; b and c need each other. Reached from a through b, c meets b on its path
    # (cut: c serves false); reached from a directly, c evaluates b, whose own check of c is cut,
    # so b serves true and c true: a is true only if c is evaluated again on its own path.
    a = b.flag("a", "bool", [False, True], [b.rule(b.all_(b.flag_is("b", True), b.flag_is("c", True)), value=1)])
    bb = b.flag("b", "bool", [False, True], [b.rule(b.flag_is("c", True), value=0)], fallback=1)
    c = b.flag("c", "bool", [False, True], [b.rule(b.flag_is("b", True), value=1)])
    assert served_everywhere([a, bb, c], "a", {}) == {True}


def test_a_result_is_reused_only_where_its_chain_still_fits() -> None:
    # top needs x at depth 1 (x -> y -> z: fits) and x again at the end of a chain of 30, where
    # z is past MAX_FLAG_DEPTH: there x is false, so top is false.
    chain = [b.flag(f"c{i:02d}", "bool", [False, True], [b.rule(b.flag_is(f"c{i + 1:02d}", True), value=1)])
             for i in range(1, 30)]
    chain.append(b.flag("c30", "bool", [False, True], [b.rule(b.flag_is("x", True), value=1)]))
    top = b.flag("top", "bool", [False, True], [b.rule(b.all_(b.flag_is("x", True), b.flag_is("c01", True)), value=1)])
    x = b.flag("x", "bool", [False, True], [b.rule(b.flag_is("y", True), value=1)])
    y = b.flag("y", "bool", [False, True], [b.rule(b.flag_is("z", True), value=1)])
    z = b.flag("z", "bool", [False, True], [b.rule(b.in_("plan", "pro"), value=1)])
    flags = [top, *chain, x, y, z]
    assert interpret.MAX_FLAG_DEPTH == 32
    assert served_everywhere(flags, "top", PRO) == {False}
    assert served_everywhere(flags, "c01", PRO) == {True}  # asked for itself, its chain fits

KEYS = [f"g.f{i}" for i in range(4)]


def naive_index(flags: Mapping[str, bundle_pb2.CompiledFlag], env: Env, key: str, ctx: Mapping[str, object],
                path: tuple[str, ...] = ()) -> int:
    """The evaluation contract read literally: every path evaluated anew, cut
    where it meets a flag already on it or passes MAX_FLAG_DEPTH."""
    flag = flags[key]
    if flag.disabled:
        return flag.fallback
    path = (*path, key)
    for rule in flag.rules:
        if naive_truth(flags, env, rule.when, ctx, path):
            if rule.WhichOneof("outcome") != "split":
                return rule.value
            index = split_value(rule.split, ctx, env)
            if index is not None:
                return index
    return flag.fallback


def naive_truth(flags: Mapping[str, bundle_pb2.CompiledFlag], env: Env, e: bundle_pb2.Expr,
                ctx: Mapping[str, object], path: tuple[str, ...]) -> bool:
    kind = e.WhichOneof("node")
    if kind in ("all", "any"):
        parts = (naive_truth(flags, env, x, ctx, path) for x in getattr(e, kind).items)
        return all(parts) if kind == "all" else any(parts)
    if kind == "not":
        return not naive_truth(flags, env, getattr(e, "not"), ctx, path)
    if kind == "flag":
        key = e.flag.key
        if key in path or len(path) > interpret.MAX_FLAG_DEPTH or key not in flags:
            return False
        served = decoded(flags[key].values[naive_index(flags, env, key, ctx, path)])
        return strict_equal(served, decoded(e.flag.value))
    return eval_expr(e, ctx, env)


def combined(leaves: st.SearchStrategy[bundle_pb2.Expr]) -> st.SearchStrategy[bundle_pb2.Expr]:
    """Trees of all / any / not over `leaves`, up to six leaves."""
    return st.recursive(leaves, lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(lambda xs: b.all_(*xs)),
        st.lists(inner, min_size=1, max_size=3).map(lambda xs: b.any_(*xs)),
        inner.map(b.not_),
    ), max_leaves=6)


def graph_exprs() -> st.SearchStrategy[bundle_pb2.Expr]:
    prerequisite = st.builds(b.flag_is, st.sampled_from(KEYS), st.booleans())
    leaves = st.one_of(prerequisite, prerequisite,  # mostly prerequisites: they are what is under test
                       st.sampled_from([b.in_("plan", "pro"), b.in_("country", "US"), b.present("age")]))
    return combined(leaves)


@st.composite
def graphs(draw: st.DrawFn) -> list[bundle_pb2.CompiledFlag]:
    keys = draw(st.lists(st.sampled_from(KEYS), min_size=3, max_size=len(KEYS), unique=True))
    return [b.flag(key, "bool", [False, True],
                   [b.rule(draw(graph_exprs()), value=draw(st.integers(0, 1)))
                    for _ in range(draw(st.integers(1, 3)))],
                   fallback=draw(st.integers(0, 1)))
            for key in keys]


CONTEXTS = st.fixed_dictionaries({}, optional={"plan": st.sampled_from(["pro", "free"]),
                                               "country": st.sampled_from(["US", "CA"]), "age": st.just(3)})


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs(), st.integers(1, 5), st.lists(CONTEXTS, min_size=1, max_size=3))
def test_memoised_evaluation_answers_what_every_path_would(flags: list[bundle_pb2.CompiledFlag], depth: int,
                                                           ctxs: list[dict[str, object]]) -> None:
    # Graphs of 3-4 flags dense with diamonds and cycles, and a depth cut-off low enough to be met.
    with mock.patch.object(interpret, "MAX_FLAG_DEPTH", depth), \
            mock.patch.object(interpret, "MAX_PREREQUISITE_EVALUATIONS", 10**9):
        snap = Snapshot(b.bundle(flags))
        by_key = {f.key: f for f in flags}
        env = Env(snap.env.names, snap.env.strings, {})
        # A flag constant on its own is folded into the flags requiring it, also past the cut-off,
        # which the interpreter does not do: compare the generated code only where none is.
        folded = any(snap._local_constant(k) is not None for k in by_key)
        for ctx in ctxs:
            for key in by_key:
                want = naive_index(by_key, env, key, ctx)
                assert snap.reference(by_key[key], ctx).value_index == want
                entry = snap.entry(key)
                assert entry is not None and entry.error is None and entry.spec is not None
                if not folded and entry.spec.constant is None:
                    assert entry.fast(ctx) is entry.values[want]
                    assert snap.outcome_fn(entry)(ctx).value_index == want


# --- validate: SF203 bounds the depth and the width of the graph ------------------------------------------


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> CompileResult:
    repo = FlagRepo(tmp_path_factory.mktemp("prereq"))
    flag = "sf.bool {{ owner: 'team-billing', description: 'A flag.', default: false, {extra} }}"
    for i in range(10):  # t.c0 -> t.c1 -> ... -> t.c9: 9 flags deep below t.c0
        repo.write(f"t.c{i}", flag.format(extra=f"prerequisites: [sf.prereq('t.c{i + 1}')]" if i < 9 else ""))
    for i in range(17):
        repo.write(f"t.w{i}", flag.format(extra=""))
    prereqs = ",\n  ".join(f"sf.prereq('t.w{i}')" for i in range(17))
    repo.write("t.wide", f"sf.bool {{\n  owner: 'team-billing', description: 'Wide.', default: false,\n"
                         f"  prerequisites: [\n  {prereqs},\n  ],\n}}\n")
    repo.write("t.scoped", """
        sf.bool {
          owner: 'team-billing', description: 'A ramp scoped by another flag.', default: false,
          rollout: sf.ramps.custom(stages=[sf.ramps.stage(5, scope=sf.flagIs('t.nowhere')), 100],
                                   unit='workspace_id', stage=1),
        }
        """)
    result = repo.compile()
    assert result.ok, result.errors
    return result


def limited(result: CompileResult, **limits: int) -> CompileResult:
    model = result.config.model
    config = replace(result.config, model=model.model_copy(update={"limits": model.limits.model_copy(update=limits)}))
    return replace(result, config=config)


def findings(head: CompileResult, base: CompileResult | None = None) -> Iterator[Finding]:
    return iter(SF203().check(Context(head, base)))


def test_too_deep_and_too_wide_are_refused_at_their_lines(compiled: CompileResult) -> None:
    found = sorted(findings(compiled), key=Finding.sort_key)
    by_flag = {f.flag: f for f in found}
    assert set(by_flag) == {"t.c0", "t.wide", "t.scoped"}, [f.message for f in found]
    deep = by_flag["t.c0"]
    assert "9 flags deep" in deep.message and "max_prerequisite_depth, 8" in deep.message
    assert deep.message.count("→") == 9 and deep.file.endswith("t/c0.jsonnet") and deep.line == 2
    wide = by_flag["t.wide"]
    assert "requires 17 other flags" in wide.message and "max_prerequisite_fanout (16)" in wide.message
    assert wide.line == 5 + 16  # the 17th prerequisite's line
    assert "'t.nowhere', which is not a flag" in by_flag["t.scoped"].message  # a scope's flagIs is checked too


def test_limits_come_from_safeflags_yaml(compiled: CompileResult) -> None:
    loose = limited(compiled, max_prerequisite_depth=9, max_prerequisite_fanout=17)
    assert {f.flag for f in findings(loose)} == {"t.scoped"}
    strict = limited(compiled, max_prerequisite_depth=3)
    deep = [f for f in findings(strict) if "deep" in f.message]
    assert [f.flag for f in deep] == ["t.c0"]  # where the chain starts, not every flag along it


def test_a_pull_request_is_judged_by_the_base_limits(compiled: CompileResult) -> None:
    loose, strict = limited(compiled, max_prerequisite_depth=20), limited(compiled, max_prerequisite_depth=3)
    assert any("deep" in f.message for f in findings(loose, base=strict))
    assert not any("deep" in f.message for f in findings(strict, base=loose))


def test_limits_are_parsed_strictly(tmp_path: Path) -> None:
    repo = FlagRepo(tmp_path)
    text = (tmp_path / "safeflags.yaml").read_text(encoding="utf-8")
    repo.set_config(text + "limits:\n  max_prerequisite_depth: 4\n  max_prerequisite_fanout: 3\n")
    limits = load_config(tmp_path).model.limits
    assert (limits.max_prerequisite_depth, limits.max_prerequisite_fanout) == (4, 3)
    repo.set_config(text + "limits:\n  max_prerequisite_depth: 40\n")
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path)
    [problem] = err.value.errors
    assert problem.field_path == "limits.max_prerequisite_depth" and problem.line > 1


# --- a graph compiled as one function answers what the interpreter does -----------------------------------

DAG_KEYS = [f"d.f{i}" for i in range(6)]
RUNTIME = [b.in_("plan", "pro"), b.in_("country", "US"), b.present("age"), b.cmp("age", ">=", 18),
           b.bucket("user_id", "s", 0, 50_000), b.in_("region", "US")]  # region is static: sometimes folded


def dag_exprs(below: list[str]) -> st.SearchStrategy[bundle_pb2.Expr]:
    leaves = st.sampled_from(RUNTIME)
    if below:  # a prerequisite on a value the flag has, has twice ("a"), or has not
        prerequisite = st.builds(b.flag_is, st.sampled_from(below), st.sampled_from([True, False, "a", "b", "c"]))
        leaves = st.one_of(prerequisite, prerequisite, leaves)
    return combined(leaves)


@st.composite
def dags(draw: st.DrawFn) -> list[bundle_pb2.CompiledFlag]:
    """Up to 6 flags, each requiring only flags after it (so no cycle), over runtime conditions; only the
    first, which nothing requires, may split."""
    n = draw(st.integers(2, len(DAG_KEYS)))
    flags = []
    for i, key in enumerate(DAG_KEYS[:n]):
        kind, values = draw(st.sampled_from([("bool", [False, True]), ("string", ["a", "b", "a"])]))
        index = st.integers(0, len(values) - 1)
        rules = []
        for _ in range(draw(st.integers(1, 3))):
            when = draw(dag_exprs(DAG_KEYS[i + 1:n]))
            if i == 0 and draw(st.booleans()):
                split = b.split("user_id", "t", [(draw(index), 40_000), (draw(index), 100_000)])
                rules.append(b.rule(when, split=split, reason="split"))
            else:
                rules.append(b.rule(when, value=draw(index)))
        flags.append(b.flag(key, kind, values, rules, fallback=draw(index), disabled=draw(st.integers(0, 7)) == 0,
                            variants=[f"v{j}" for j in range(len(values))]))
    return flags


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dags(), st.fixed_dictionaries({}, optional={"region": st.sampled_from(["US", "eu"])}),
       st.lists(contexts, min_size=1, max_size=4))
def test_an_inlined_graph_answers_what_the_interpreter_does(flags: list[bundle_pb2.CompiledFlag],
                                                           static: dict[str, object],
                                                           ctxs: list[dict[str, object]]) -> None:
    client = Evaluator(Snapshot(b.bundle(flags), static=static))
    snap = client.snapshot
    for flag in flags:
        entry = snap.entry(flag.key)
        assert entry is not None and entry.error is None and entry.spec is not None
        if entry.spec.constant is None and graph.required(entry.spec):  # it has prerequisites left: inlined
            assert entry.fast.__name__ == snap.outcome_fn(entry).__name__ == "_graph"
        get = client.get_bool if flag.type == common_pb2.FLAG_TYPE_BOOL else client.get_string
        for ctx in ctxs:
            ref = snap.reference(flag, ctx)
            expected = entry.values[ref.value_index]
            served = get(flag.key, None, ctx)
            assert type(served) is type(expected) and served == expected
            details = client.details(flag.key, None, ctx)
            assert details.error_code is None and details.value == expected
            assert details.variant == f"v{ref.value_index}" and details.rule_index == ref.rule_index
            static_ok = details.reason is Reason.STATIC and ref.reason is not Reason.DISABLED
            assert details.reason == ref.reason or static_ok
