"""The reference interpreter on hand-picked cases: the contract, spelled out."""
from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from safeflags.sdk.details import Reason
from safeflags.sdk.interpret import Env, eval_expr, evaluate
from safeflags.sdk.kernel.bucketing import bucket
from tests.helpers.builder import Builder, Json

b = Builder()


def env(flags: dict[str, object] | None = None) -> Env:
    return Env([d.name for d in b.dims], b.strings, flags or {})  # type: ignore[arg-type]


CASES = [
    # (expression, context, expected)
    (b.const(True), {}, True),
    (b.all_(), {}, True),
    (b.any_(), {}, False),
    (b.not_(b.any_()), {}, True),
    (b.in_("country", "US", "CA"), {"country": "US"}, True),
    (b.in_("country", "US", "CA"), {"country": "us"}, False),
    (b.in_("country", "US"), {}, False),
    (b.in_("country", "US"), {"country": None}, False),
    (b.in_("country", "US"), {"country": ["US"]}, False),
    # True == 1 == 1.0 in Python, not here.
    (b.in_("age", 1), {"age": True}, False),
    (b.in_("beta", True), {"beta": 1}, False),
    (b.in_("beta", True), {"beta": True}, True),
    (b.in_("age", 1), {"age": 1.0}, True),
    (b.in_("score", 1.0), {"score": 1}, True),
    (b.in_("score", math.nan), {"score": math.nan}, False),
    (b.in_("age", "1"), {"age": 1}, False),
    (b.in_("plan", Json("pro")), {"plan": "pro"}, True),
    (b.in_("plan", Json(["pro"])), {"plan": ["pro"]}, False),
    (b.cmp("age", ">=", 18), {"age": 18}, True),
    (b.cmp("age", ">=", 18), {"age": 17.5}, False),
    (b.cmp("age", ">=", 18), {"age": True}, False),
    (b.cmp("age", ">=", 18), {"age": "20"}, False),
    (b.cmp("age", "==", 18), {"age": 18.0}, True),
    (b.cmp("age", "<", 18), {"age": math.nan}, False),
    (b.cmp("age", "<", 1e300), {"age": 10**400}, False),
    (b.cmp("app_version", ">=", "2.14.0", "semver"), {"app_version": "2.14"}, True),
    (b.cmp("app_version", ">=", "2.14.0", "semver"), {"app_version": "2.14.0-rc.1"}, False),
    (b.cmp("app_version", ">=", "2.14.0", "semver"), {"app_version": "v2.15.0"}, True),
    (b.cmp("app_version", ">=", "2.14.0", "semver"), {"app_version": "banana"}, False),
    (b.cmp("app_version", "<", "banana", "semver"), {"app_version": "1.0.0"}, False),
    (b.cmp("app_version", "<", "2.0.0", "semver"), {"app_version": 1}, False),
    (b.cmp("signup", "<", 1_704_067_200, "timestamp"), {"signup": "2023-12-31"}, True),
    (b.cmp("signup", ">=", 1_704_067_200, "timestamp"), {"signup": "2024-01-01T00:00:00Z"}, True),
    (b.cmp("signup", ">=", 1_704_067_200, "timestamp"),
     {"signup": datetime(2024, 1, 1, tzinfo=UTC)}, True),
    (b.cmp("signup", ">=", 1_704_067_200, "timestamp"), {"signup": 1_704_067_200}, True),
    (b.cmp("signup", ">=", 0, "timestamp"), {"signup": True}, False),
    (b.cmp("signup", ">=", 0, "timestamp"), {"signup": "yesterday"}, False),
    (b.match("plan", "prefix", "pr"), {"plan": "pro"}, True),
    (b.match("plan", "prefix", "PR"), {"plan": "pro"}, False),
    (b.match("plan", "prefix", "PR", True), {"plan": "pro"}, True),
    (b.match("plan", "suffix", "SS", True), {"plan": "maß"}, True),
    (b.match("plan", "contains", "r"), {"plan": "pro"}, True),
    (b.match("plan", "regex", "^p.o$"), {"plan": "pro"}, True),
    (b.match("plan", "regex", "r"), {"plan": "pro"}, True),  # search, not match
    (b.match("plan", "regex", "^P", True), {"plan": "pro"}, True),
    (b.match("plan", "prefix", ""), {"plan": 5}, False),
    (b.present("plan"), {"plan": ""}, True),
    (b.present("plan"), {"plan": None}, False),
    (b.present("plan"), {}, False),
    (b.bucket("user_id", "s", 0, 100_000), {"user_id": "u"}, True),
    (b.bucket("user_id", "s", 0, 100_000), {"user_id": 7}, True),
    (b.bucket("user_id", "s", 0, 100_000), {"user_id": 7.0}, False),
    (b.bucket("user_id", "s", 0, 100_000), {"user_id": True}, False),
    (b.bucket("user_id", "s", 0, 100_000), {}, False),
    (b.bucket("user_id", "s", 0, 0), {"user_id": "u"}, False),
    (b.bucket("user_id", "s", bucket("s", "u"), bucket("s", "u") + 1), {"user_id": "u"}, True),
    (b.bucket("user_id", "s", 0, 100_000), {"user_id": "\ud800"}, True),
]


@pytest.mark.parametrize("expr, ctx, expected", CASES)
def test_leaf_semantics(expr: object, ctx: dict[str, object], expected: bool) -> None:
    assert eval_expr(expr, ctx, env()) is expected  # type: ignore[arg-type]


def test_flag_order_disabled_gate_split_fallback() -> None:
    split = b.split("user_id", "s", [(1, 50_000), (2, 100_000)])
    flag = b.flag("k", "string", ["off", "a", "b", "gated"], [
        b.rule(b.not_(b.cmp("app_version", ">=", "2.0.0", "semver")), value=0, reason="default"),
        b.rule(b.in_("country", "US"), value=3),
        b.rule(b.const(True), split=split, reason="split"),
    ])
    e = env()
    assert evaluate(flag, {"app_version": "1.0.0"}, e) == (0, Reason.DEFAULT, 0)
    assert evaluate(flag, {"app_version": "2.0.0", "country": "US"}, e) == (3, Reason.TARGETING_MATCH, 1)
    out = evaluate(flag, {"app_version": "2.0.0", "user_id": "u-1"}, e)
    assert out.reason is Reason.SPLIT and out.value_index == (1 if bucket("s", "u-1") < 50_000 else 2)
    # No unit: the split rule does not match, the fallback serves.
    assert evaluate(flag, {"app_version": "2.0.0"}, e) == (0, Reason.DEFAULT, None)
    flag.disabled = True
    assert evaluate(flag, {"app_version": "2.0.0", "country": "US"}, e) == (0, Reason.DISABLED, None)


def test_split_past_last_arm_does_not_match() -> None:
    unit = next(u for u in (f"u{i}" for i in range(1000)) if bucket("s", u) >= 50_000)
    flag = b.flag("k", "bool", [False, True], [b.rule(b.const(True), split=b.split("user_id", "s", [(1, 50_000)]))])
    assert evaluate(flag, {"user_id": unit}, env()) == (0, Reason.DEFAULT, None)


def test_prerequisites_cycles_and_unknown_flags_are_unmet_and_reported() -> None:
    a = b.flag("a", "bool", [False, True], [b.rule(b.flag_is("b", True), value=1)])
    bb = b.flag("b", "bool", [False, True], [b.rule(b.flag_is("a", False), value=1)])
    c = b.flag("c", "bool", [False, True], [b.rule(b.flag_is("nope", True), value=1)])
    e = env({"a": a, "b": bb, "c": c})
    errors: list[str] = []
    # a -> b -> a is a cycle: b's prerequisite is unmet, b serves false, a's too.
    assert evaluate(a, {}, e, errors=errors) == (0, Reason.DEFAULT, None)
    assert any("cycle" in x for x in errors)
    errors.clear()
    assert evaluate(c, {}, e, errors=errors).value_index == 0
    assert errors == ["prerequisite on unknown flag 'nope'"]


def test_prerequisite_chain_depth_is_bounded() -> None:
    chain = {f"f{i}": b.flag(f"f{i}", "bool", [False, True], [b.rule(b.flag_is(f"f{i + 1}", True), value=1)])
             for i in range(40)}
    chain["f40"] = b.flag("f40", "bool", [False, True], fallback=1)
    errors: list[str] = []
    assert evaluate(chain["f0"], {}, env(chain), errors=errors).value_index == 0
    assert any("deeper" in x for x in errors)
    assert evaluate(chain["f10"], {}, env(chain)).value_index == 1
