"""Hypothesis strategies: expression trees over the test catalog, contexts
that mix good values with absent keys, wrong types and hostile objects, and
whole bundles of flags that refer to each other (cycles included)."""
from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import strategies as st

from safeflags.v1 import bundle_pb2
from tests.helpers.builder import CATALOG, Builder, Json

STRINGS = ["US", "CA", "GB", "pro", "free", "", "é", "ß", "SS", "ss", "us", "user-1", "user-2", "u-42"]
INTS = [-1, 0, 1, 2, 18, 65, 2**53 + 1, 1_704_067_200]
FLOATS = [0.0, -0.0, 0.5, 1.0, 18.0, 64.9, math.nan, math.inf, 1_704_067_200.5]
VERSIONS = ["1.0.0", "2.14.0", "2.14", "v2.14.1-rc.1", "2.14.1-rc.1", "3", "not-a-version", "1.0.0\n"]
TIMES = ["2024-01-01", "2024-01-01T12:00:00Z", "2023-06-30T23:59:59+02:00", "garbage"]
DATETIMES = [datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 1),
             datetime(2024, 1, 1, 6, tzinfo=timezone(timedelta(hours=5)))]
FLAG_KEYS = ["a.one", "a.two", "b.three", "b.four"]
SALTS = ["s", "a.one", "", "ramp:2"]
PATTERNS = ["U", "S", "", "s", "^p", "o$", "(r|f)e+", "[", "é"]


class Hostile:
    """A context value whose every comparison and hash raises."""

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("eq")

    def __hash__(self) -> int:
        raise RuntimeError("hash")

    def __lt__(self, other: object) -> bool:
        raise RuntimeError("lt")

    __gt__ = __le__ = __ge__ = __lt__


def huge_int() -> int:
    """Past Python's int-to-str limit (built lazily: even repr() of it raises)."""
    return 10**5000


class LyingStr(str):
    """A str subclass: not a str by the contract's exact-type rule."""

    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = str.__hash__


# Per dimension, the values worth trying: mostly of the declared type and
# overlapping the operands below, so comparisons hit their boundaries.
POOLS: dict[str, list[object]] = {
    "country": ["US", "CA", "GB", "DE", "us"],
    "plan": ["pro", "free", "", "PRO", "pro-team", "maß"],
    "age": [0, 17, 18, 65, 18.0, 17.5, -1],
    "score": [0.5, 1.0, 1, 0.0, -0.0, math.nan, math.inf],
    "beta": [True, False],
    "app_version": VERSIONS,
    "signup": TIMES + DATETIMES + [1_704_067_200, 1_704_110_400.0, 0],
    "user_id": ["u-1", "u-2", "u-42", "", 7, 12345],
    "region": ["us-east-1", "eu-west-1", "US"],
    "env": ["prod", "dev"],
    "service_version": VERSIONS,
    "tier": [1, 2, 3, 2.0],
}
NUMBERS = sorted({x for pool in POOLS.values() for x in pool if type(x) in (int, float) and x == x}, key=float)
EPOCHS = [1_704_067_200, 1_704_110_400, 1_688_162_399, 0]

good_values = st.one_of(
    st.sampled_from(STRINGS), st.sampled_from(INTS), st.sampled_from(FLOATS), st.booleans(),
    st.sampled_from(VERSIONS), st.sampled_from(TIMES), st.sampled_from(DATETIMES),
)
odd_values = st.one_of(
    st.none(), st.just([1, "US"]), st.just({"a": 1}), st.builds(Hostile), st.just(LyingStr("US")),
    st.builds(huge_int), st.just("\ud800"), st.just(b"US"), st.text(max_size=5), st.integers(),
    st.floats(allow_nan=True),
)
NAMES = [name for name, _, _ in CATALOG]


def values_for(name: str) -> st.SearchStrategy[object]:
    """Mostly the dimension's own pool, sometimes anything at all."""
    pool = st.sampled_from(POOLS.get(name, STRINGS))
    return st.one_of(pool, pool, pool, good_values, odd_values)


@st.composite
def context_of(draw: st.DrawFn, names: list[str]) -> dict[str, object]:
    return {n: draw(values_for(n)) for n in names if draw(st.integers(0, 3))}


contexts = context_of([*NAMES, "other"])
STATIC_NAMES = [name for name, _, static in CATALOG if static]
# Pins static dimensions, plus sometimes a runtime name (which must be ignored).
statics = context_of([*STATIC_NAMES, "plan", "age", "nope"])

members = st.one_of(st.sampled_from(STRINGS), st.sampled_from(INTS), st.sampled_from(FLOATS), st.booleans(),
                    st.sampled_from(["US", 1, True, "x", [1]]).map(Json))


@st.composite
def leaf(draw: st.DrawFn, b: Builder, flag_keys: list[str]) -> bundle_pb2.Expr:
    name = draw(st.sampled_from(NAMES))
    own = st.sampled_from([x for x in POOLS[name] if type(x) in (str, int, float, bool)])
    kind = draw(st.sampled_from(["const", "in", "number", "semver", "time", "match", "present", "bucket", "flag"]))
    if kind == "const":
        return b.const(draw(st.booleans()))
    if kind == "in":
        return b.in_(name, *draw(st.lists(st.one_of(own, own, members), max_size=4)))
    op = draw(st.sampled_from(["<", "<=", ">", ">=", "=="]))
    if kind == "number":
        return b.cmp(name, op, draw(st.sampled_from(NUMBERS)))
    if kind == "semver":
        return b.cmp(name, op, draw(st.sampled_from(VERSIONS)), "semver")
    if kind == "time":
        return b.cmp(name, op, draw(st.sampled_from(EPOCHS)), "timestamp")
    if kind == "match":
        texts = [x for x in POOLS[name] if type(x) is str] + [p for p in PATTERNS if p != "["]
        pattern = draw(st.sampled_from(texts))
        mop = draw(st.sampled_from(["prefix", "suffix", "contains", "regex"]))
        if mop == "regex":
            pattern = draw(st.sampled_from([re.escape(pattern), "^" + re.escape(pattern), pattern + "$"]))
        return b.match(name, mop, pattern, draw(st.booleans()))
    if kind == "present":
        return b.present(name)
    if kind == "bucket":
        lo = draw(st.integers(0, 100_000))
        return b.bucket(name, draw(st.sampled_from(SALTS)), lo, min(lo + draw(st.integers(0, 100_000)), 100_000))
    if not flag_keys:
        return b.present(name)
    value = draw(st.one_of(st.booleans(), st.sampled_from(["on", "off", "x"]), st.integers(0, 2)))
    return b.flag_is(draw(st.sampled_from(flag_keys)), value)


def exprs(b: Builder, flag_keys: list[str] | None = None, max_leaves: int = 12) -> st.SearchStrategy[bundle_pb2.Expr]:
    return st.recursive(
        leaf(b, flag_keys or []),
        lambda children: st.one_of(
            st.lists(children, max_size=4).map(lambda xs: b.all_(*xs)),
            st.lists(children, max_size=4).map(lambda xs: b.any_(*xs)),
            children.map(b.not_),
        ),
        max_leaves=max_leaves,
    )


FLAG_VALUES = {"bool": [False, True], "string": ["off", "on", "x"], "int": [0, 1, 2],
               "float": [0.0, 0.5, 1.0], "json": [Json({"a": 1}), Json([1, 2]), Json(None)]}


@st.composite
def flags(draw: st.DrawFn, b: Builder, key: str, flag_keys: list[str]) -> bundle_pb2.CompiledFlag:
    type_ = draw(st.sampled_from(sorted(FLAG_VALUES)))
    values = FLAG_VALUES[type_]
    index = st.integers(0, len(values) - 1)
    rules = []
    for _ in range(draw(st.integers(0, 4))):
        when = draw(exprs(b, flag_keys, max_leaves=6))
        if draw(st.booleans()):
            rules.append(b.rule(when, value=draw(index), reason=draw(st.sampled_from(["match", "default", ""]))))
        else:
            uppers = sorted(draw(st.lists(st.integers(0, 100_000), min_size=1, max_size=3)))
            if draw(st.booleans()):
                uppers[-1] = 100_000
            arms = [(draw(index), u) for u in uppers]
            unit = draw(st.sampled_from(["user_id", "user_id", "age", "region", "tier", "plan"]))
            rules.append(b.rule(when, split=b.split(unit, draw(st.sampled_from(SALTS)), arms),
                                reason=draw(st.sampled_from(["split", ""]))))
    variants = draw(st.sampled_from([(), tuple(f"v{i}" for i in range(len(values))), ("",) * len(values)]))
    return b.flag(key, type_, values, rules, fallback=draw(index), disabled=draw(st.booleans()) and draw(st.booleans()),
                  variants=variants)


@st.composite
def bundles(draw: st.DrawFn) -> tuple[Builder, bundle_pb2.Bundle]:
    b = Builder()
    keys = draw(st.lists(st.sampled_from(FLAG_KEYS), min_size=1, max_size=4, unique=True))
    # Prerequisites may name any key, including absent ones and the flag itself.
    return b, b.bundle([draw(flags(b, k, FLAG_KEYS)) for k in keys])
