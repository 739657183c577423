"""Every walker over `Expr` against every node kind the schema declares, and a
node no walker can read (kind unset, or from a newer schema) handled the same
way by all of them: UnknownNode, and in the client a broken flag that serves
the code default with reason ERROR."""
from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest

from safeflags.compile import pack as packing
from safeflags.compile.config import DimensionConfig
from safeflags.sdk import check, codegen, graph, interpret, partial, render, simplify
from safeflags.sdk.codegen import compile_flag
from safeflags.sdk.details import ErrorCode, FlagError, Reason
from safeflags.sdk.evaluator import Evaluator
from safeflags.sdk.interpret import Env, eval_expr, evaluate
from safeflags.sdk.kernel.errors import SafeflagsError
from safeflags.sdk.nodes import KINDS, Dispatch, UnknownNode, kind_of
from safeflags.sdk.partial import SpecializedFlag, SpecializedRule, leaf_dim, specialize
from safeflags.sdk.snapshot import Snapshot
from safeflags.sdk.values import decoded, strict_equal
from safeflags.v1 import bundle_pb2, common_pb2
from safeflags.validation.domain import Space, Tree
from tests.helpers.builder import CATALOG, Builder, val

Expr = bundle_pb2.Expr
ONEOF = Expr.DESCRIPTOR.oneofs_by_name["node"]
SCHEMA_KINDS = [f.name for f in ONEOF.fields]  # read here, not from the module under test

b = Builder()
NAMES = [d.name for d in b.dims]
DEP = b.flag("dep.on", "bool", [False, True], fallback=1)  # the prerequisite every `flag` sample names
ENV = Env(NAMES, b.strings, {DEP.key: DEP})
CTX: dict[str, object] = {"country": "US", "plan": "pro", "age": 30, "user_id": "u1"}
ENUMS = {"country": ["US", "CA", "GB"], "env": ["prod", "dev"]}
DOMAIN_CATALOG = {
    name: DimensionConfig.model_validate({"type": t, "static": s, "values": ENUMS.get(name, [])})
    for name, t, s in CATALOG
}


def _in_inline(dim: str, *members: object) -> Expr:
    # The compiler's form (members inline, interned only by pack), which every walker reads.
    return Expr(**{"in": bundle_pb2.InSet(dim=b.index[dim], values=[val(m) for m in members])})


# One expression per kind, each true in CTX. A kind the schema gains fails
# `test_every_kind_has_a_sample` until it has one here.
SAMPLES: dict[str, Callable[[], Expr]] = {
    "constant": lambda: b.const(True),
    "all": lambda: b.all_(_in_inline("country", "US"), b.present("plan")),
    "any": lambda: b.any_(_in_inline("country", "CA"), b.present("plan")),
    "not": lambda: b.not_(b.present("beta")),
    "in": lambda: _in_inline("country", "US"),
    "compare": lambda: b.cmp("age", ">=", 18),
    "match": lambda: b.match("plan", "prefix", "pr"),
    "present": lambda: b.present("plan"),
    "bucket": lambda: b.bucket("user_id", "salt", 0, 100_000),
    "flag": lambda: b.flag_is(DEP.key, True),
}


def sample(kind: str) -> Expr:
    if kind not in SAMPLES:
        pytest.fail(f"no sample for node kind {kind!r}: add one here and a handler to every walker")
    return SAMPLES[kind]()


def newer_kind() -> Expr:
    """An Expr whose node is a kind one past the schema's, as a newer compiler would write it."""
    number = max(f.number for f in ONEOF.fields) + 1
    tag, data = number << 3, bytearray()  # wire type 0 (varint)
    while tag >= 0x80:
        data.append(tag & 0x7F | 0x80)
        tag >>= 7
    data += bytes([tag, 1])
    return Expr.FromString(bytes(data))


# Unreadable nodes: alone, from a newer schema, and deep inside a tree every walker reaches.
UNREADABLE: dict[str, Callable[[], Expr]] = {
    "unset": Expr,
    "newer kind": newer_kind,
    "nested": lambda: b.all_(b.present("plan"), b.not_(Expr())),
}


def flag_of(e: Expr, key: str = "t.flag") -> bundle_pb2.CompiledFlag:
    return b.flag(key, "bool", [False, True], [b.rule(e, value=1)])


def flag_is(key: str, expected: object, ctx: object, path: tuple[str, ...], served: object = None) -> bool:
    target = ENV.flags[key]
    outcome = evaluate(target, ctx, ENV, path)  # type: ignore[arg-type]
    return strict_equal(decoded(target.values[outcome.value_index]), expected)


# --- the walkers ----------------------------------------------------------
# Each walker is a `run` (the walker alone, nothing else that reads the tree)
# and a `judge` that checks its result is sensible for a sample that is true in CTX.
PINNED_CTX = {i: CTX.get(name) for i, name in enumerate(NAMES)}  # dimension index -> value (None: absent)


def resolve(key: str) -> tuple[object] | None:
    return (True,) if key == DEP.key else None


def codegen_fn(e: Expr) -> Callable[..., object]:
    rule = SpecializedRule(0, e, 1, None, Reason.TARGETING_MATCH, "", 0)
    return compile_flag(SpecializedFlag(flag_of(e), (rule,), None), (False, True), NAMES, b.strings, flag_is)


def everything_pinned(e: Expr) -> Expr:
    """`e` with every dimension static and pinned to CTX (None: absent), the prerequisite known."""
    dims = [common_pb2.Dimension(name=d.name, type=d.type, static=True) for d in b.dims]
    return specialize(e, {name: CTX.get(name) for name in NAMES}, dims, b.strings, resolve)


def packed(e: Expr, optimised: bool = False) -> bundle_pb2.Bundle:
    # optimised=True: the flags come optimised (as from the compiler's workers), so only interning walks them.
    return packing.pack([flag_of(e), DEP], list(b.dims), "rev", "test", optimised=optimised)[0]


def judge_pack(e: Expr, bundle: bundle_pb2.Bundle) -> None:
    flags = {f.key: f for f in bundle.flags}
    assert evaluate(flags["t.flag"], CTX, Env(NAMES, bundle.strings, flags)).value_index == 1


def _space() -> Space:
    """A partition that knows every dimension and free variable the samples use."""
    space = Space(DOMAIN_CATALOG, weighted=False)
    for kind in SCHEMA_KINDS:
        space.add(Tree(sample(kind), NAMES))
    return space


def collected(e: Expr) -> Space:
    space = Space(DOMAIN_CATALOG, weighted=False)
    space.add(Tree(e, NAMES))
    return space


def truth(e: Expr) -> tuple[int, int]:
    space = _space()
    (bits,) = space.truth([e], NAMES)  # type: ignore[misc]
    return bits, space.size()


def held(e: Expr) -> list[bool]:
    space = _space()
    return [space.holds(e, NAMES, cell) for cell, _ in space.cells()]


def judge_holds(e: Expr, results: list[bool]) -> None:
    bits, size = truth(e)
    assert any(results) and len(results) == size
    assert results == [bool(bits >> i & 1) for i in range(size)]  # cell by cell, as the bit sets say


def judge_interpret(e: Expr, got: tuple[bool, bool]) -> None:
    in_ctx, in_empty = got
    assert in_ctx is True and type(in_empty) is bool


def judge_leaf_dim(e: Expr, dim: int | None) -> None:
    assert dim is None or 0 <= dim < len(NAMES)


def judge_pin(e: Expr, got: Expr) -> None:
    assert eval_expr(got, {}, ENV) is True  # every leaf decided: no context needed


def judge_specialize(e: Expr, got: tuple[Expr, Expr]) -> None:
    nothing_pinned, everything = got
    assert eval_expr(nothing_pinned, CTX, ENV) is True
    assert everything == b.const(True)


def judge_simplify(e: Expr, got: Expr) -> None:
    assert eval_expr(got, CTX, ENV) is True


def judge_codegen(e: Expr, fn: Callable[..., object]) -> None:
    assert fn(CTX) is True
    assert fn({}) is eval_expr(e, {}, ENV)


def judge_render(e: Expr, text: str) -> None:
    assert text and "?" not in text


def judge_check(e: Expr, got: None) -> None:
    assert got is None


def judge_collected(e: Expr, space: Space) -> None:
    assert space.dims or space.free or e == b.const(True)


def judge_reads(e: Expr, reads: list[object]) -> None:
    assert set(reads) <= {k for k, _ in _space().variables()}


def judge_truth(e: Expr, got: tuple[int, int]) -> None:
    bits, size = got
    assert 0 < bits < 1 << size  # it can hold, within the partition


WALKERS: dict[str, tuple[Callable[[Expr], Any], Callable[[Expr, Any], None]]] = {
    "interpret": (lambda e: (eval_expr(e, CTX, ENV), eval_expr(e, {}, ENV)), judge_interpret),
    "partial.leaf_dim": (leaf_dim, judge_leaf_dim),
    "partial.pin": (lambda e: partial.pin(e, PINNED_CTX, ENV, resolve), judge_pin),
    "partial.specialize": (lambda e: (specialize(e, {}, b.dims, b.strings), everything_pinned(e)), judge_specialize),
    "simplify": (simplify.simplify, judge_simplify),
    "codegen": (codegen_fn, judge_codegen),
    "render": (lambda e: render.render_expr(e, b.dims, b.strings), judge_render),
    "check": (lambda e: check.check_flag(flag_of(e), len(NAMES), len(b.strings)), judge_check),
    "pack": (packed, judge_pack),
    "pack.interning": (lambda e: packed(e, optimised=True), judge_pack),
    "domain.collect": (collected, judge_collected),
    "domain.reads": (lambda e: Space._reads(e, NAMES), judge_reads),
    "domain.truth": (truth, judge_truth),
    "domain.holds": (held, judge_holds),
}

TABLES: list[Dispatch[Callable[..., object]]] = [
    interpret.EVALUATE, partial.PIN, partial.LEAF_DIM, simplify.SIMPLIFY, codegen.EMIT, render.RENDER,
    check.CHECK, packing.STRING_SETS, Space._COLLECT, Space._TRUTH, Space._READS, Space._HOLDS, graph.PARTS,
]


# --- the set of kinds ------------------------------------------------------
def test_kinds_are_the_schema_oneof_and_all_of_expr() -> None:
    assert list(KINDS) == SCHEMA_KINDS
    # Expr holds nothing but the oneof: leftover bytes on a kindless node mean a newer kind.
    assert {f.name for f in Expr.DESCRIPTOR.fields} == set(SCHEMA_KINDS)


def test_every_kind_has_a_sample() -> None:
    assert sorted(SAMPLES) == sorted(SCHEMA_KINDS)


@pytest.mark.parametrize("kind", SCHEMA_KINDS)
def test_kind_of_names_each_kind(kind: str) -> None:
    assert kind_of(sample(kind)) == kind


def test_an_unreadable_node_says_what_it_is() -> None:
    with pytest.raises(UnknownNode, match="empty expression node"):
        kind_of(Expr())
    with pytest.raises(UnknownNode, match="a kind this schema does not know"):
        kind_of(newer_kind())
    # One exception for the whole SDK contract: a fault of one flag.
    assert issubclass(UnknownNode, FlagError) and issubclass(UnknownNode, SafeflagsError)


# --- the handler tables ----------------------------------------------------
@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.walker)
def test_every_walker_table_names_exactly_the_schema_kinds(table: Dispatch[Callable[..., object]]) -> None:
    assert sorted(table.kinds) == sorted(SCHEMA_KINDS)


def test_a_table_that_misses_or_invents_a_kind_does_not_build() -> None:
    def handler(e: Expr) -> None:
        return None

    with pytest.raises(TypeError, match=f"missing \\['{SCHEMA_KINDS[0]}'\\]"):
        Dispatch("t", {k: handler for k in SCHEMA_KINDS[1:]})
    with pytest.raises(TypeError, match="unknown \\['xor'\\]"):
        Dispatch("t", {**{k: handler for k in SCHEMA_KINDS}, "xor": handler})
    with pytest.raises(TypeError, match=f"missing \\['{SCHEMA_KINDS[-1]}'\\]"):
        Dispatch("t", {**{k: handler for k in SCHEMA_KINDS}, SCHEMA_KINDS[-1]: cast(Any, None)})


def test_only_the_nodes_module_asks_an_expr_for_its_kind() -> None:
    root = Path(__file__).resolve().parents[2] / "safeflags"
    askers = sorted(str(p.relative_to(root)) for p in root.rglob("*.py")
                    if 'WhichOneof("node")' in p.read_text(encoding="utf-8"))
    assert askers == ["sdk/nodes.py"]


# --- every walker, every kind ----------------------------------------------
@pytest.mark.parametrize("walker", WALKERS)
@pytest.mark.parametrize("kind", SCHEMA_KINDS)
def test_every_walker_handles_every_kind(walker: str, kind: str) -> None:
    run, judge = WALKERS[walker]
    expr = sample(kind)
    judge(expr, run(expr))


SHALLOW = {"partial.leaf_dim"}  # reads the root node only: a nested node is not its to see


@pytest.mark.parametrize("walker, shape", [
    (walker, shape) for walker in WALKERS for shape in UNREADABLE if not (walker in SHALLOW and shape == "nested")
])
def test_every_walker_raises_unknown_node_on_an_unreadable_node(walker: str, shape: str) -> None:
    run, _ = WALKERS[walker]
    with pytest.raises(UnknownNode):
        run(UNREADABLE[shape]())


def test_check_says_where_the_unreadable_node_is() -> None:
    flag = b.flag("t.where", "bool", [False, True], [b.rule(b.const(False), value=1), b.rule(Expr(), value=1)])
    with pytest.raises(UnknownNode, match=re.escape("t.where: rule 1: empty expression node")):
        check.check_flag(flag, len(NAMES), len(b.strings))


# --- the client: a broken flag, never an exception ----------------------------
@pytest.mark.parametrize("static", [None, {"region": "us-east-1", "env": "prod"}])
@pytest.mark.parametrize("shape", UNREADABLE)
def test_the_client_serves_the_code_default_for_that_flag_alone(shape: str, static: dict[str, str] | None) -> None:
    broken = flag_of(UNREADABLE[shape](), "a.broken")
    needs = flag_of(b.flag_is("a.broken", True), "a.needs")
    fine = flag_of(b.present("plan"), "a.fine")
    evaluator = Evaluator(Snapshot(b.bundle([broken, needs, fine]), static=static))

    assert evaluator.get_bool("a.broken", "code default", CTX) == "code default"
    details = evaluator.details("a.broken", "code default", CTX)
    assert details.reason is Reason.ERROR and details.error_code is ErrorCode.PARSE_ERROR
    assert details.value == "code default" and "expression node" in (details.error_message or "")
    # A prerequisite on the broken flag is unmet; the rest of the bundle serves as usual.
    assert evaluator.details("a.needs", None, CTX).value is False
    assert evaluator.get_bool("a.fine", None, CTX) is True
    assert evaluator.snapshot.warm() == 1
