"""The reference interpreter: the evaluation contract, written to be read.

Every faster path (static pre-evaluation, generated callables) is tested
against this module, and the client falls back to it when a fast path cannot
handle a request value. It favours clarity over speed: no caching (but for
the kernel's compiled regexes, and what each prerequisite served within one
request, without which a graph of prerequisites costs its paths), no
generated code, one function per concept.

Contract (see proto/safeflags/v1/bundle.proto):
- A leaf over a dimension that is absent from the context, or whose value has
  the wrong type, is false. Types are exact: a `str` subclass (StrEnum) or an
  `int` subclass (IntEnum, bool) is not a str or an int.
- `True == 1 == 1.0` does not hold here: a bool matches only bools, a str only
  strs, and ints and floats match each other numerically but never bools.
"""
from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from safeflags.sdk.details import Reason, Resolution
from safeflags.sdk.kernel import regex, semver, timestamps
from safeflags.sdk.kernel.bucketing import bucket, unit_key
from safeflags.sdk.nodes import Dispatch
from safeflags.sdk.values import decoded, strict_equal
from safeflags.v1 import bundle_pb2

MAX_FLAG_DEPTH = 32
"""Prerequisite chains deeper than this are cut off: the prerequisite is unmet."""

MAX_PREREQUISITE_EVALUATIONS = 1_000
"""Prerequisite flags evaluated for one request at most; past it, every further
prerequisite is unmet (and reported). A flag is evaluated once per request
however many flags require it (see `PrerequisiteMemo`), so an acyclic graph costs
the flags it reaches; only a bundle whose results depend on the path (a cycle,
which validation refuses, or chains cut at MAX_FLAG_DEPTH) comes near, and then
costs a few milliseconds instead of its paths."""

Expr = bundle_pb2.Expr
C = bundle_pb2.Compare
M = bundle_pb2.Match

COMPARE_OPS: dict[int, Callable[[Any, Any], Any]] = {
    C.OP_LT: operator.lt,
    C.OP_LE: operator.le,
    C.OP_GT: operator.gt,
    C.OP_GE: operator.ge,
    C.OP_EQ: operator.eq,
}

RULE_REASONS: dict[int, Reason] = {
    bundle_pb2.RULE_REASON_TARGETING_MATCH: Reason.TARGETING_MATCH,
    bundle_pb2.RULE_REASON_SPLIT: Reason.SPLIT,
    bundle_pb2.RULE_REASON_DEFAULT: Reason.DEFAULT,
}


class PrerequisiteMemo:
    """One request's prerequisite evaluations: what each prerequisite flag
    served, so a flag that many flags require is evaluated once, not once per
    path (a graph of layers, each flag requiring every flag of the next,
    costs its flags, not its paths). Made by the first flag that has a
    prerequisite and handed down; a flag without one never makes it.

    The answer is the one of evaluating every path: a flag's result is kept
    only when no cut (cycle, depth, budget) happened while it was computed, so
    it depends on nothing of the path that led to it, and it is reused at any
    depth where its own chain still fits under MAX_FLAG_DEPTH. Where a cut
    happened, the next path evaluates the flag again. The interpreter and
    generated code keep the same protocol (`check`, `recall`, `begin`, `end`)
    over the same values, so either can finish what the other started."""

    __slots__ = ("cuts", "deepest", "evaluations", "served")

    def __init__(self) -> None:
        # key -> (decoded value it served, how many levels its chain reached below it)
        self.served: dict[str, tuple[object, int]] = {}
        self.cuts = 0  # cycles, depth and budget cut-offs so far
        self.deepest = 0  # the longest path visited since the innermost `begin`
        self.evaluations = 0

    def check(self, key: str, path: tuple[str, ...], known: bool) -> str | None:
        """Why the prerequisite on `key`, met at the end of `path`, is unmet
        before any evaluation (a cycle, too deep, an unknown flag), or None."""
        if key in path:
            self.cuts += 1
            return f"prerequisite cycle: {' -> '.join((*path, key))}"
        depth = len(path)
        if depth > MAX_FLAG_DEPTH:
            self.cuts += 1
            return f"prerequisite chain deeper than {MAX_FLAG_DEPTH} at {key!r}"
        if depth > self.deepest:
            self.deepest = depth
        return None if known else f"prerequisite on unknown flag {key!r}"

    def recall(self, key: str, depth: int) -> tuple[object, int] | None:
        """`(value, height)` when `key` was served before in this request and
        its chain fits below `depth` too, else None."""
        found = self.served.get(key)
        if found is None or depth + found[1] > MAX_FLAG_DEPTH:
            return None
        if depth + found[1] > self.deepest:
            self.deepest = depth + found[1]
        return found

    def begin(self, depth: int) -> tuple[int, int] | None:
        """Start evaluating a prerequisite met at `depth`: a mark for `end`,
        or None when the request has spent its budget (a cut)."""
        if self.evaluations >= MAX_PREREQUISITE_EVALUATIONS:
            self.cuts += 1
            return None
        self.evaluations += 1
        mark = (self.cuts, self.deepest)
        self.deepest = depth
        return mark

    def end(self, key: str, depth: int, mark: tuple[int, int], value: object) -> None:
        """`key` served `value` (FAILED when it raised): kept if no cut happened since `begin`."""
        cuts, deepest = mark
        if self.cuts == cuts:
            self.served[key] = (value, self.deepest - depth)
        if deepest > self.deepest:
            self.deepest = deepest


FAILED = object()
"""What a prerequisite that raised is remembered as serving: it is unmet."""

BUDGET_SPENT = (f"more than {MAX_PREREQUISITE_EVALUATIONS} prerequisite evaluations for one request: "
                "the rest are unmet")


class Env(NamedTuple):
    """What expressions refer to besides the context: dimension names by
    index, the interned string table, the flags prerequisites name, and
    during one evaluation what those flags served (see `evaluate`)."""

    names: Sequence[str]
    strings: Sequence[str]
    flags: Mapping[str, bundle_pb2.CompiledFlag]
    served: PrerequisiteMemo | None = None


def is_number(value: object) -> bool:
    kind = type(value)
    return kind is int or kind is float


def same_kind(a: object, b: object) -> bool:
    """Whether `a` and `b` may be compared for set membership."""
    if is_number(a):
        return is_number(b)
    return type(a) is type(b) and type(a) in (str, bool)


def rule_reason(rule: bundle_pb2.Rule) -> Reason:
    reason = RULE_REASONS.get(rule.reason)
    if reason is not None:
        return reason
    return Reason.SPLIT if rule.WhichOneof("outcome") == "split" else Reason.TARGETING_MATCH


def eval_expr(
    expr: Expr,
    ctx: Mapping[str, object],
    env: Env,
    path: tuple[str, ...] = (),
    errors: list[str] | None = None,
) -> bool:
    """Truth of `expr` in `ctx`. `path` holds the flags being evaluated (for
    prerequisites); problems that do not stop evaluation go to `errors`.
    UnknownNode for a node without a kind this schema knows."""
    return EVALUATE.of(expr)(expr, ctx, env, path, errors)


NodeEval = Callable[[Expr, Mapping[str, object], Env, tuple[str, ...], list[str] | None], bool]


def _all(expr: Expr, ctx: Mapping[str, object], env: Env, path: tuple[str, ...], errors: list[str] | None) -> bool:
    return all(eval_expr(e, ctx, env, path, errors) for e in expr.all.items)


def _any(expr: Expr, ctx: Mapping[str, object], env: Env, path: tuple[str, ...], errors: list[str] | None) -> bool:
    return any(eval_expr(e, ctx, env, path, errors) for e in expr.any.items)


def _not(expr: Expr, ctx: Mapping[str, object], env: Env, path: tuple[str, ...], errors: list[str] | None) -> bool:
    return not eval_expr(getattr(expr, "not"), ctx, env, path, errors)


def _bucket(expr: Expr, ctx: Mapping[str, object], env: Env, path: tuple[str, ...], errors: list[str] | None) -> bool:
    b = expr.bucket
    unit = unit_key(ctx.get(env.names[b.unit]))
    return unit is not None and b.lo <= bucket(b.salt, unit) < b.hi


def _in(expr: Expr, ctx: Mapping[str, object], env: Env, path: tuple[str, ...], errors: list[str] | None) -> bool:
    inset = getattr(expr, "in")
    return in_set(inset, ctx.get(env.names[inset.dim]), env.strings)


EVALUATE: Dispatch[NodeEval] = Dispatch("interpret", {
    "constant": lambda expr, ctx, env, path, errors: expr.constant,
    "all": _all,
    "any": _any,
    "not": _not,
    "in": _in,
    "compare": lambda expr, ctx, env, path, errors: compare(expr.compare, ctx.get(env.names[expr.compare.dim])),
    "match": lambda expr, ctx, env, path, errors: match(expr.match, ctx.get(env.names[expr.match.dim])),
    "present": lambda expr, ctx, env, path, errors: ctx.get(env.names[expr.present.dim]) is not None,
    "bucket": _bucket,
    "flag": lambda expr, ctx, env, path, errors: eval_flag_is(expr.flag, ctx, env, path, errors),
})


def in_set(inset: bundle_pb2.InSet, value: object, strings: Sequence[str]) -> bool:
    if type(value) is str and any(strings[i] == value for i in inset.strings):
        return True
    for member in inset.values:
        candidate = decoded(member)
        if same_kind(candidate, value) and candidate == value:
            return True
    return False


def compare(c: bundle_pb2.Compare, value: object) -> bool:
    op = COMPARE_OPS[c.op]
    if c.kind == C.KIND_NUMBER:
        return is_number(value) and op(value, c.number)
    if c.kind == C.KIND_SEMVER:
        if type(value) is not str:
            return False
        left, right = semver.parse(value), semver.parse(c.text)
        return left is not None and right is not None and op(left, right)
    if c.kind == C.KIND_TIMESTAMP:
        epoch = timestamps.to_epoch(value)
        return epoch is not None and op(epoch, c.number)
    raise ValueError(f"unknown comparison kind {c.kind}")


def match(m: bundle_pb2.Match, value: object) -> bool:
    if type(value) is not str:
        return False
    if m.op == M.OP_REGEX:
        return regex.compiled(m.pattern, m.ignore_case).search(value)  # RE2, linear time
    text, pattern = (value.casefold(), m.pattern.casefold()) if m.ignore_case else (value, m.pattern)
    if m.op == M.OP_PREFIX:
        return text.startswith(pattern)
    if m.op == M.OP_SUFFIX:
        return text.endswith(pattern)
    if m.op == M.OP_CONTAINS:
        return pattern in text
    raise ValueError(f"unknown match operator {m.op}")


def eval_flag_is(
    node: bundle_pb2.FlagIs,
    ctx: Mapping[str, object],
    env: Env,
    path: tuple[str, ...],
    errors: list[str] | None,
) -> bool:
    """The prerequisite flag serves `node.value`. A cycle, a chain deeper than
    MAX_FLAG_DEPTH, an unknown or broken flag, a request past its budget of
    evaluations: unmet, and reported. Each flag is evaluated once per request
    (see PrerequisiteMemo)."""
    served = env.served
    if served is None:  # an expression evaluated on its own, not through `evaluate`
        served = PrerequisiteMemo()
        env = env._replace(served=served)
    key = node.key
    value: object = FAILED
    problem = served.check(key, path, key in env.flags)
    if problem is None:
        depth = len(path)
        found = served.recall(key, depth)
        if found is not None:
            value = found[0]
        elif (mark := served.begin(depth)) is None:
            problem = BUDGET_SPENT
        else:
            target = env.flags[key]
            try:
                outcome = evaluate(target, ctx, env, path, errors)
                value = decoded(target.values[outcome.value_index])
            except Exception as exc:  # a broken prerequisite is unmet, not fatal to this flag
                problem = f"prerequisite {key!r} failed: {exc!r}"
            finally:
                served.end(key, depth, mark, value)
    if problem is None and value is not FAILED:
        try:
            return strict_equal(value, decoded(node.value))
        except Exception as exc:
            problem = f"prerequisite {key!r} failed: {exc!r}"
    if problem is not None and errors is not None:
        errors.append(problem)
    return False


def split_value(split: bundle_pb2.SplitOutcome, ctx: Mapping[str, object], env: Env) -> int | None:
    """The value index of the arm the unit falls in; None when the unit is
    missing or unusable, or its bucket is past the last arm."""
    unit = unit_key(ctx.get(env.names[split.unit]))
    if unit is None:
        return None
    b = bucket(split.salt, unit)
    for arm in split.arms:
        if b < arm.upper:
            return arm.value
    return None


def evaluate(
    flag: bundle_pb2.CompiledFlag,
    ctx: Mapping[str, object],
    env: Env,
    stack: tuple[str, ...] = (),
    errors: list[str] | None = None,
) -> Resolution:
    """The outcome of `flag` in `ctx`; `stack` holds the flags whose
    prerequisites led here. Never reports STATIC: that is a property of a
    specialisation, not of one evaluation."""
    if flag.disabled:
        return Resolution(flag.fallback, Reason.DISABLED, None)
    if env.served is None:  # one request: its prerequisites are shared by every flag it reaches
        env = env._replace(served=PrerequisiteMemo())
    path = (*stack, flag.key)
    for i, rule in enumerate(flag.rules):
        if not eval_expr(rule.when, ctx, env, path, errors):
            continue
        if rule.WhichOneof("outcome") == "split":
            index = split_value(rule.split, ctx, env)
            if index is None:
                continue
        else:
            index = rule.value
        return Resolution(index, rule_reason(rule), i)
    return Resolution(flag.fallback, Reason.DEFAULT, None)
