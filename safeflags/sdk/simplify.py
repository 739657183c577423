"""The expression optimiser, shared by the compiler (at pack time) and the SDK
(after static pre-evaluation). It only rewrites structure, never meaning:

- constants fold: `all` with a false child is false, true children drop out,
  `not` of a constant is a constant, `not(not(x))` is `x`;
- nested `all`/`any` of the same kind flatten; identical children (equal
  deterministic serialisations) are kept once, first occurrence first;
- an empty `all` is true, an empty `any` false, a single child stands alone;
- a set-membership test with no members is false.

Evaluation has no side effects worth keeping (a prerequisite cycle is
reported, but the value is the same), so dropping a duplicate is sound.
The input is never modified; unchanged subtrees may be shared with it.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

from safeflags.sdk.nodes import Dispatch, kind_of
from safeflags.v1 import bundle_pb2

Expr = bundle_pb2.Expr


def constant(value: bool) -> Expr:
    return Expr(constant=value)


def negate(expr: Expr) -> Expr:
    out = Expr()
    getattr(out, "not").CopyFrom(expr)
    return out


def combine(kind: str, items: Iterable[Expr]) -> Expr:
    """An `all` or `any` node over `items` (copied)."""
    out = Expr()
    getattr(out, kind).items.extend(items)
    return out


def is_constant(expr: Expr, value: bool) -> bool:
    return expr.HasField("constant") and expr.constant is value


def simplify(expr: Expr) -> Expr:
    """`expr` optimised (see module doc); UnknownNode for a node without a known kind."""
    return SIMPLIFY.of(expr)(expr)


def _simplify_not(expr: Expr) -> Expr:
    inner = simplify(getattr(expr, "not"))
    kind = kind_of(inner)
    if kind == "constant":
        return constant(not inner.constant)
    if kind == "not":
        return getattr(inner, "not")
    return negate(inner)


def _simplify_in(expr: Expr) -> Expr:
    inset = getattr(expr, "in")
    return constant(False) if not inset.strings and not inset.values else expr


def _unchanged(expr: Expr) -> Expr:
    return expr


SIMPLIFY: Dispatch[Callable[[Expr], Expr]] = Dispatch("simplify", {
    "constant": _unchanged,
    "all": lambda expr: _simplify_list("all", expr.all.items),
    "any": lambda expr: _simplify_list("any", expr.any.items),
    "not": _simplify_not,
    "in": _simplify_in,
    "compare": _unchanged,
    "match": _unchanged,
    "present": _unchanged,
    "bucket": _unchanged,
    "flag": _unchanged,
})


def _simplify_list(kind: str, children: Iterable[Expr]) -> Expr:
    # The value that decides the whole node: one false child makes `all`
    # false, one true child makes `any` true.
    decisive = kind == "any"
    items: list[Expr] = []
    seen: set[bytes] = set()
    for child in children:
        s = simplify(child)
        s_kind = kind_of(s)
        if s_kind == "constant":
            if s.constant is decisive:
                return constant(decisive)
            continue
        # A simplified child of the same kind is already flat and deduplicated.
        for item in getattr(s, kind).items if s_kind == kind else (s,):
            key = item.SerializeToString(deterministic=True)
            if key not in seen:
                seen.add(key)
                items.append(item)
    if not items:
        return constant(not decisive)
    if len(items) == 1:
        return items[0]
    return combine(kind, items)
