"""Static pre-evaluation (partial evaluation) of expressions and flags.

A process pins its static dimensions once (region, environment, service
version...). Every leaf over a pinned dimension is decided at load time and
the tree is simplified, so each flag keeps only what depends on the request;
a flag whose outcome no longer depends on the request becomes a constant and
is served with reason STATIC.

Only dimensions the catalog declares static can be pinned. A static
dimension the process does not pin stays in the tree and is read from the
request context like a runtime one. Where a request context also carries a
pinned dimension, the pinned value wins: it has already been folded away.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from safeflags.sdk.details import Reason, Resolution
from safeflags.sdk.interpret import Env, eval_expr, rule_reason, split_value
from safeflags.sdk.nodes import Dispatch, kind_of
from safeflags.sdk.simplify import combine, constant, is_constant, negate, simplify
from safeflags.sdk.values import decoded, strict_equal
from safeflags.v1 import bundle_pb2, common_pb2

Expr = bundle_pb2.Expr

Resolver = Callable[[str], "tuple[object] | None"]
"""Given a flag key, `(value,)` when that flag is a constant, else None."""


@dataclass(frozen=True, slots=True)
class SpecializedRule:
    index: int  # position in the flag's original rule list
    when: Expr
    value: int | None  # value-table index, or None for a split
    split: bundle_pb2.SplitOutcome | None
    reason: Reason
    label: str
    line: int


@dataclass(frozen=True, slots=True)
class SpecializedFlag:
    """A flag after pre-evaluation: the rules that can still match, in order,
    and `constant` when the outcome no longer depends on the request."""

    flag: bundle_pb2.CompiledFlag
    rules: tuple[SpecializedRule, ...]
    constant: Resolution | None


def pinned_dims(static: Mapping[str, object], dims: Sequence[common_pb2.Dimension]) -> dict[int, object]:
    """Dimension index -> pinned value, for the catalog's static dimensions
    that `static` names. Other names are not pinned (see module doc)."""
    return {i: static[d.name] for i, d in enumerate(dims) if d.static and d.name in static}


def specialize(
    expr: Expr,
    static: Mapping[str, object],
    dims: Sequence[common_pb2.Dimension],
    strings: Sequence[str],
    resolve: Resolver | None = None,
) -> Expr:
    """`expr` with every leaf over a pinned static dimension decided, simplified."""
    env = Env([d.name for d in dims], strings, {})
    return simplify(pin(expr, pinned_dims(static, dims), env, resolve))


def leaf_dim(expr: Expr) -> int | None:
    """The dimension a leaf reads, None for constants, combinators and prerequisites."""
    return LEAF_DIM.of(expr)(expr)


LEAF_DIM: Dispatch[Callable[[Expr], int | None]] = Dispatch("partial.leaf_dim", {
    "constant": lambda expr: None,
    "all": lambda expr: None,
    "any": lambda expr: None,
    "not": lambda expr: None,
    "in": lambda expr: getattr(expr, "in").dim,
    "compare": lambda expr: expr.compare.dim,
    "match": lambda expr: expr.match.dim,
    "present": lambda expr: expr.present.dim,
    "bucket": lambda expr: expr.bucket.unit,
    "flag": lambda expr: None,  # another flag, decided by `resolve`, never by a dimension
})


def pin(expr: Expr, pinned: Mapping[int, object], env: Env, resolve: Resolver | None = None) -> Expr:
    """`expr` with pinned leaves (and resolvable prerequisites) replaced by
    constants. Not simplified; unchanged subtrees are returned as they are."""
    return PIN.of(expr)(expr, pinned, env, resolve)


NodePin = Callable[[Expr, Mapping[int, object], Env, Resolver | None], Expr]


def _pin_items(expr: Expr, pinned: Mapping[int, object], env: Env, resolve: Resolver | None) -> Expr:
    kind = kind_of(expr)
    items = getattr(expr, kind).items
    pinned_items = [pin(e, pinned, env, resolve) for e in items]
    if all(a is b for a, b in zip(pinned_items, items, strict=True)):
        return expr
    return combine(kind, pinned_items)


def _pin_not(expr: Expr, pinned: Mapping[int, object], env: Env, resolve: Resolver | None) -> Expr:
    inner = getattr(expr, "not")
    p = pin(inner, pinned, env, resolve)
    return expr if p is inner else negate(p)


def _pin_flag(expr: Expr, pinned: Mapping[int, object], env: Env, resolve: Resolver | None) -> Expr:
    known = resolve(expr.flag.key) if resolve is not None else None
    if known is None:
        return expr
    return constant(strict_equal(known[0], decoded(expr.flag.value)))


def _pin_leaf(expr: Expr, pinned: Mapping[int, object], env: Env, resolve: Resolver | None) -> Expr:
    dim = leaf_dim(expr)
    if dim is not None and dim in pinned:
        return constant(eval_expr(expr, {env.names[dim]: pinned[dim]}, env))
    return expr


PIN: Dispatch[NodePin] = Dispatch("partial.pin", {
    "constant": lambda expr, pinned, env, resolve: expr,
    "all": _pin_items,
    "any": _pin_items,
    "not": _pin_not,
    "in": _pin_leaf,
    "compare": _pin_leaf,
    "match": _pin_leaf,
    "present": _pin_leaf,
    "bucket": _pin_leaf,
    "flag": _pin_flag,
})


def specialize_flag(
    flag: bundle_pb2.CompiledFlag,
    pinned: Mapping[int, object],
    env: Env,
    resolve: Resolver | None = None,
) -> SpecializedFlag:
    """Drop rules that can no longer match, stop after the first that always
    matches with a fixed value, and decide splits on a pinned unit."""
    if flag.disabled:
        return SpecializedFlag(flag, (), Resolution(flag.fallback, Reason.DISABLED, None))
    rules: list[SpecializedRule] = []
    for i, rule in enumerate(flag.rules):
        when = simplify(pin(rule.when, pinned, env, resolve))
        if is_constant(when, False):
            continue
        split: bundle_pb2.SplitOutcome | None = None
        value: int | None = None
        if rule.WhichOneof("outcome") == "split":
            split = rule.split
            if split.unit in pinned:
                value = split_value(split, {env.names[split.unit]: pinned[split.unit]}, env)
                if value is None:  # the pinned unit never lands in an arm
                    continue
                split = None
        else:
            value = rule.value
        rules.append(SpecializedRule(i, when, value, split, rule_reason(rule), rule.label, rule.line))
        if split is None and is_constant(when, True):
            break  # nothing after an always-matching rule is reachable
    first = rules[0] if rules else None
    if first is None:
        return SpecializedFlag(flag, (), Resolution(flag.fallback, Reason.STATIC, None))
    if first.split is None and is_constant(first.when, True):
        assert first.value is not None
        return SpecializedFlag(flag, (first,), Resolution(first.value, Reason.STATIC, first.index))
    return SpecializedFlag(flag, tuple(rules), None)
