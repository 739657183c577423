"""The prerequisite graph below one flag, read at preparation time so that
a graph without cuts compiles into one function (see codegen.compile_graph).

Whether a graph can be inlined is decided here, once per flag: it must be
acyclic, no chain may pass MAX_FLAG_DEPTH, it may not reach more flags than
MAX_INLINED (nor than the request budget), and every flag it reaches must be
known, well formed and free of splits. Anything else keeps the per-request
memo of `interpret.PrerequisiteMemo`, which handles every case.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from safeflags.sdk import interpret
from safeflags.sdk.nodes import Dispatch, kind_of
from safeflags.sdk.partial import SpecializedFlag
from safeflags.v1 import bundle_pb2

Expr = bundle_pb2.Expr

MAX_INLINED = 256
"""Flags one generated function computes at most: bounds its source, which
grows with the graph."""

Specialized = Callable[[str], "SpecializedFlag | None"]
"""Flag key -> the flag as prepared (specialised), None when missing or broken."""


def _no_parts(expr: Expr) -> Sequence[Expr]:
    return ()


PARTS: Dispatch[Callable[[Expr], Sequence[Expr]]] = Dispatch("graph.parts", {
    "constant": _no_parts,
    "all": lambda expr: expr.all.items,
    "any": lambda expr: expr.any.items,
    "not": lambda expr: (getattr(expr, "not"),),
    "in": _no_parts,
    "compare": _no_parts,
    "match": _no_parts,
    "present": _no_parts,
    "bucket": _no_parts,
    "flag": _no_parts,  # read by `required`: the key it names
})


def required(spec: SpecializedFlag) -> list[str]:
    """The flags `spec`'s rules name as prerequisites, each once, in order."""
    keys: dict[str, None] = {}
    for rule in spec.rules:
        pending = [rule.when]
        while pending:  # by hand: a deep tree must not recurse
            expr = pending.pop()
            if kind_of(expr) == "flag":
                keys[expr.flag.key] = None
            pending.extend(reversed(PARTS.of(expr)(expr)))
    return list(keys)


def reached(top: SpecializedFlag, specialized: Specialized) -> list[SpecializedFlag] | None:
    """Every flag `top`'s prerequisites reach, each once and after the flags
    it requires; empty when `top` has none; None when the graph cannot be
    inlined (see the module doc). A reached flag that is a constant is kept
    (it is folded), but what it would have required is not reached."""
    limit = min(MAX_INLINED, interpret.MAX_PREREQUISITE_EVALUATIONS)
    key = top.flag.key
    children: dict[str, list[str]] = {key: required(top)}
    specs: dict[str, SpecializedFlag] = {}
    order: list[SpecializedFlag] = []
    on_path, done = {key}, set()
    stack: list[tuple[str, Iterator[str]]] = [(key, iter(children[key]))]
    while stack:
        key, pending = stack[-1]
        child = next(pending, None)
        if child is None:
            stack.pop()
            on_path.discard(key)
            done.add(key)
            if key in specs:
                order.append(specs[key])
            continue
        if child in on_path:
            return None  # a cycle: its cuts depend on the path
        if child in done:
            continue
        spec = specialized(child)
        if spec is None or len(specs) >= limit:
            return None
        if spec.constant is None and any(rule.split is not None for rule in spec.rules):
            return None
        specs[child] = spec
        children[child] = required(spec) if spec.constant is None else []
        on_path.add(child)
        stack.append((child, iter(children[child])))
    # The longest chain to each flag: parents come before children in reverse post-order.
    distance = {top.flag.key: 0}
    for key in [top.flag.key, *(spec.flag.key for spec in reversed(order))]:
        for child in children[key]:
            distance[child] = max(distance.get(child, 0), distance[key] + 1)
    if max(distance.values()) > interpret.MAX_FLAG_DEPTH:
        return None  # a chain the memo would cut
    return order
