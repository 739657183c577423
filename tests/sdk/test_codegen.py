"""Generated code on the hand-picked cases of the reference interpreter, and
the properties the code generator promises (no bundle text in the source,
shared code objects)."""
from __future__ import annotations

import pytest

from safeflags.sdk import codegen
from safeflags.sdk.codegen import compile_flag
from safeflags.sdk.details import Reason
from safeflags.sdk.kernel.bucketing import bucket
from safeflags.sdk.partial import SpecializedFlag, SpecializedRule
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
