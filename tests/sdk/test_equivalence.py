"""Every fast path against the reference interpreter, on random trees,
flags, bundles and contexts (absent keys, wrong types, hostile objects)."""
from __future__ import annotations

import json
from collections.abc import Mapping

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from safeflags.sdk.codegen import compile_flag
from safeflags.sdk.details import Reason
from safeflags.sdk.interpret import Env, eval_expr
from safeflags.sdk.partial import (
    SpecializedFlag,
    SpecializedRule,
    pinned_dims,
    specialize,
)
from safeflags.sdk.simplify import simplify
from safeflags.sdk.snapshot import Snapshot
from safeflags.v1 import common_pb2
from tests.helpers.builder import Builder
from tests.helpers.strategies import bundles, contexts, exprs, statics

b = Builder()
ENV = Env([d.name for d in b.dims], b.strings, {})
# How many examples is the profile's to say (tests/conftest.py); only the deadline is per test.
SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def merged(ctx: Mapping[str, object], static: Mapping[str, object]) -> dict[str, object]:
    """What the reference sees: the request, with pinned static values over it."""
    pinned = {b.dims[i].name: v for i, v in pinned_dims(static, b.dims).items()}
    return {**ctx, **pinned}


@SETTINGS
@given(exprs(b), st.lists(contexts, min_size=1, max_size=5))
def test_simplify_preserves_meaning(expr: object, ctxs: list[dict[str, object]]) -> None:
    simple = simplify(expr)  # type: ignore[arg-type]
    for ctx in ctxs:
        assert eval_expr(simple, ctx, ENV) == eval_expr(expr, ctx, ENV)  # type: ignore[arg-type]


@SETTINGS
@given(exprs(b))
def test_simplify_is_idempotent_and_leaves_no_foldable_constants(expr: object) -> None:
    once = simplify(expr)  # type: ignore[arg-type]
    assert simplify(once) == once
    text = str(once)
    if once.WhichOneof("node") != "constant":
        assert "constant" not in text


@SETTINGS
@given(exprs(b), statics, st.lists(contexts, min_size=1, max_size=5))
def test_specialize_then_evaluate_equals_evaluate_everything(
    expr: object, static: dict[str, object], ctxs: list[dict[str, object]]
) -> None:
    special = specialize(expr, static, b.dims, b.strings)  # type: ignore[arg-type]
    for ctx in ctxs:
        assert eval_expr(special, ctx, ENV) == eval_expr(expr, merged(ctx, static), ENV)  # type: ignore[arg-type]


@SETTINGS
@given(exprs(b), statics)
def test_specialized_trees_never_read_pinned_dimensions(expr: object, static: dict[str, object]) -> None:
    special = specialize(expr, static, b.dims, b.strings)  # type: ignore[arg-type]
    pinned = pinned_dims(static, b.dims)
    for name in [b.dims[i].name for i in pinned]:
        flipped = {name: object()}  # anything: a pinned dimension is never read
        assert eval_expr(special, flipped, ENV) == eval_expr(special, {}, ENV)


def _may_raise(ctx: Mapping[str, object]) -> bool:
    """Values the generated code hands back to the reference interpreter."""
    return any((type(v) is str and not v.isascii() and "\ud800" in v) or (type(v) is int and abs(v) > 10**4000)
               for v in ctx.values())


@SETTINGS
@given(exprs(b), st.lists(contexts, min_size=1, max_size=8))
def test_generated_expression_equals_reference(expr: object, ctxs: list[dict[str, object]]) -> None:
    # Unsimplified trees on purpose: empty all/any, constants and double negations included.
    rule = SpecializedRule(0, expr, 1, None, Reason.TARGETING_MATCH, "", 0)  # type: ignore[arg-type]
    spec = SpecializedFlag(b.flag("k", "bool", [False, True]), (rule,), None)
    fn = compile_flag(spec, (False, True), ENV.names, b.strings)
    for ctx in ctxs:
        try:
            got = fn(ctx)
        except (UnicodeEncodeError, ValueError):
            assert _may_raise(ctx)
            continue
        assert got is eval_expr(expr, ctx, ENV)  # type: ignore[arg-type]


@SETTINGS
@given(bundles(), statics, st.lists(contexts, min_size=1, max_size=6))
def test_generated_code_equals_reference(bundle_and_builder: tuple, static: dict, ctxs: list) -> None:
    _builder, bundle = bundle_and_builder
    snap = Snapshot(bundle, static=static)
    for key in snap.flags:
        entry = snap.entry(key)
        assert entry is not None and entry.error is None, entry and entry.error
        for ctx in ctxs:
            ref = snap.reference(entry.flag, ctx)
            assert entry.spec is not None
            if entry.spec.constant is not None:
                out, value = entry.spec.constant, entry.fast
            else:
                try:
                    out = snap.outcome_fn(entry)(ctx)
                    value = entry.fast(ctx)  # type: ignore[operator]
                except (UnicodeEncodeError, ValueError):
                    assert _may_raise(ctx)
                    continue
            assert (out.value_index, out.rule_index) == (ref.value_index, ref.rule_index)
            assert out.reason == ref.reason or (out.reason is Reason.STATIC and ref.reason is not Reason.DISABLED)
            assert value == entry.values[ref.value_index]


@SETTINGS
@given(bundles(), statics, st.lists(contexts, min_size=1, max_size=4))
def test_client_serves_the_reference_value(bundle_and_builder: tuple, static: dict, ctxs: list) -> None:
    from safeflags import Evaluator

    _, bundle = bundle_and_builder
    client = Evaluator(Snapshot(bundle, static=static))
    getters = {common_pb2.FLAG_TYPE_BOOL: client.get_bool, common_pb2.FLAG_TYPE_STRING: client.get_string,
               common_pb2.FLAG_TYPE_INT: client.get_int, common_pb2.FLAG_TYPE_FLOAT: client.get_float,
               common_pb2.FLAG_TYPE_JSON: client.get_json}
    snap = client.snapshot
    for key, flag in snap.flags.items():
        for ctx in ctxs * 2:  # the second round runs on the memoised fast path
            ref = snap.reference(flag, ctx)
            expected = snap.entry(key).values[ref.value_index]  # type: ignore[union-attr]
            if flag.type == common_pb2.FLAG_TYPE_JSON:
                expected = json.loads(expected)  # type: ignore[arg-type]
            sentinel = object()
            assert getters[flag.type](key, sentinel, ctx) == expected
            details = client.details(key, sentinel, ctx)
            assert details.error_code is None and details.value == expected
            assert details.variant == (flag.variants[ref.value_index] or None if flag.variants else None)
