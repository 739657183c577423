"""Hypothesis strategies: expression trees over the test catalog, contexts
that mix good values with absent keys, wrong types and hostile objects, and
whole bundles of flags that refer to each other (cycles included)."""
from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

from hypothesis import strategies as st

from safeflags.v1 import bundle_pb2

from .bundles import CATALOG, Builder, Json

STRINGS = ["US", "CA", "GB", "pro", "free", "", "é", "ß", "SS", "ss", "us", "user-1", "user-2", "u-42"]
INTS = [-1, 0, 1, 2, 18, 65, 2**53 + 1, 1_704_067_200]
FLOATS = [0.0, -0.0, 0.5, 1.0, 18.0, 64.9, math.nan, math.inf, 1_704_067_200.5]
VERSIONS = ["1.0.0", "2.14.0", "2.14", "v2.14.1-rc.1", "2.14.1-rc.1", "3", "not-a-version", "1.0.0\n"]
TIMES = ["2024-01-01", "2024-01-01T12:00:00Z", "2023-06-30T23:59:59+02:00", "garbage"]
DATETIMES = [datetime(2024, 1, 1, tzinfo=timezone.utc), datetime(2024, 1, 1),
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


class LyingStr(str):
    """A str subclass: not a str by the contract's exact-type rule."""

    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = str.__hash__


good_values = st.one_of(
    st.sampled_from(STRINGS), st.sampled_from(INTS), st.sampled_from(FLOATS), st.booleans(),
    st.sampled_from(VERSIONS), st.sampled_from(TIMES), st.sampled_from(DATETIMES),
)
odd_values = st.one_of(
    st.none(), st.just([1, "US"]), st.just({"a": 1}), st.builds(Hostile), st.just(LyingStr("US")),
    st.just(10**5000), st.just("\ud800"), st.just(b"US"), st.text(max_size=5), st.integers(),
    st.floats(allow_nan=True),
)
ctx_values = st.one_of(good_values, good_values, odd_values)
NAMES = [name for name, _, _ in CATALOG]
contexts = st.dictionaries(st.sampled_from(NAMES + ["other"]), ctx_values, max_size=8)
STATIC_NAMES = [name for name, _, static in CATALOG if static]
# Pins static dimensions, plus sometimes a runtime name (which must be ignored).
statics = st.dictionaries(st.sampled_from(STATIC_NAMES + ["plan", "nope"]), ctx_values, max_size=5)

members = st.one_of(st.sampled_from(STRINGS), st.sampled_from(INTS), st.sampled_from(FLOATS), st.booleans(),
                    st.sampled_from(["US", 1, True, "x", [1]]).map(Json))


def leaves(b: Builder, flag_keys: list[str]) -> st.SearchStrategy[bundle_pb2.Expr]:
    dim = st.sampled_from(NAMES)
    options = [
        st.booleans().map(b.const),
        st.builds(lambda d, ms: b.in_(d, *ms), dim, st.lists(members, max_size=4)),
        st.builds(lambda d, op, n: b.cmp(d, op, n), dim, st.sampled_from(["<", "<=", ">", ">=", "=="]),
                  st.sampled_from([x for x in INTS + FLOATS if x == x and abs(x) < 2**60])),
        st.builds(lambda d, op, v: b.cmp(d, op, v, "semver"), dim, st.sampled_from(["<", ">=", "=="]),
                  st.sampled_from(VERSIONS)),
        st.builds(lambda d, op, n: b.cmp(d, op, n, "timestamp"), dim, st.sampled_from(["<", ">=", "=="]),
                  st.sampled_from([1_704_067_200, 1_704_110_400, 0])),
        st.builds(lambda d, op, p, ic: b.match(d, op, p, ic), dim,
                  st.sampled_from(["prefix", "suffix", "contains", "regex"]),
                  st.sampled_from([p for p in PATTERNS if p != "["]), st.booleans()),
        dim.map(b.present),
        st.builds(lambda d, s, lo, width: b.bucket(d, s, lo, min(lo + width, 100_000)), dim,
                  st.sampled_from(SALTS), st.integers(0, 100_000), st.integers(0, 100_000)),
    ]
    if flag_keys:
        options.append(st.builds(b.flag_is, st.sampled_from(flag_keys),
                                 st.one_of(st.booleans(), st.sampled_from(["on", "off", "x"]), st.integers(0, 2))))
    return st.one_of(*options)


def exprs(b: Builder, flag_keys: list[str] | None = None, max_leaves: int = 12) -> st.SearchStrategy[bundle_pb2.Expr]:
    return st.recursive(
        leaves(b, flag_keys or []),
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
            unit = draw(st.sampled_from(["user_id", "age", "region", "tier", "plan"]))
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
