"""Expressions rendered for people."""
from __future__ import annotations

from safeflags.sdk.render import render_expr
from tests.helpers.builder import Builder, Json

b = Builder()


def show(expr: object) -> str:
    return render_expr(expr, b.dims, b.strings)  # type: ignore[arg-type]


def test_render_every_node() -> None:
    assert show(b.all_(b.in_("region", "us-east-1"), b.bucket("user_id", "x", 0, 5000))) == \
        'all(region in {"us-east-1"}, bucket(user_id, salt="x") in [0, 5000))'
    assert show(b.any_(b.not_(b.present("plan")), b.const(False))) == "any(not(present(plan)), false)"
    assert show(b.in_("age", 1, 2.5, True, Json(["a"]))) == 'age in {1, 2.5, true, ["a"]}'
    assert show(b.cmp("age", ">=", 18)) == "age >= 18"
    assert show(b.cmp("score", "<", 0.5)) == "score < 0.5"
    assert show(b.cmp("app_version", ">=", "2.14.0", "semver")) == 'app_version >= semver("2.14.0")'
    assert show(b.cmp("signup", "<", 1_704_067_200, "timestamp")) == 'signup < time("2024-01-01T00:00:00Z")'
    assert show(b.match("plan", "suffix", "-team", True)) == 'endswith(plan, "-team", ignore_case)'
    assert show(b.match("plan", "regex", "^p")) == 'matches(plan, "^p")'
    assert show(b.flag_is("billing.v2", True)) == 'flag("billing.v2") == true'


def test_render_survives_bad_indexes() -> None:
    e = b.present("plan")
    e.present.dim = 99
    assert show(e) == "present(?dim99)"
    e = b.in_("plan", "x")
    assert render_expr(e, b.dims, []) == f"plan in {{?str{b.intern('x')}}}"
