"""Structural checks of one compiled flag against its bundle.

The bundle's bytes are already known to be a well-formed protobuf (and to
match their digest); this catches what protobuf cannot: an index out of
range, a value of the wrong type, a regex that does not compile. Run once per
flag, lazily, so a malformed flag breaks only itself (PARSE_ERROR) and a
large bundle still loads fast.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable

from safeflags.sdk.details import FlagError
from safeflags.sdk.kernel.bucketing import BUCKETS
from safeflags.sdk.nodes import Dispatch, UnknownNode, kind_of
from safeflags.sdk.values import FIELD_OF_TYPE
from safeflags.v1 import bundle_pb2

MAX_DEPTH = 64
"""Deepest expression tree accepted; deeper trees are not written by people."""


def check_flag(flag: bundle_pb2.CompiledFlag, n_dims: int, n_strings: int) -> None:
    """Raise FlagError describing the first structural problem of `flag`."""
    field = FIELD_OF_TYPE.get(flag.type)
    if field is None:
        raise FlagError(f"{flag.key}: unknown flag type {flag.type}")
    if not flag.values:
        raise FlagError(f"{flag.key}: empty value table")
    for i, value in enumerate(flag.values):
        if value.WhichOneof("kind") != field:
            raise FlagError(f"{flag.key}: value {i} is not a {field}")
        if field == "json_value":
            _check_json(flag.key, value.json_value)
    if flag.variants and len(flag.variants) != len(flag.values):
        raise FlagError(f"{flag.key}: {len(flag.variants)} variants for {len(flag.values)} values")
    _index(flag.key, "fallback", flag.fallback, len(flag.values))
    for i, rule in enumerate(flag.rules):
        where = f"{flag.key}: rule {i}"
        outcome = rule.WhichOneof("outcome")
        if outcome == "value":
            _index(where, "value", rule.value, len(flag.values))
        elif outcome == "split":
            _index(where, "split unit", rule.split.unit, n_dims)
            last = 0
            for arm in rule.split.arms:
                _index(where, "split value", arm.value, len(flag.values))
                if arm.upper < last or arm.upper > BUCKETS:
                    raise FlagError(f"{where}: split bounds out of order or above {BUCKETS}")
                last = arm.upper
        else:
            raise FlagError(f"{where}: no outcome")
        check_expr(rule.when, n_dims, n_strings, where)


def check_expr(expr: bundle_pb2.Expr, n_dims: int, n_strings: int, where: str, depth: int = 0) -> None:
    """Raise FlagError for the first structural problem of `expr`: every node is
    visited, so a node without a known kind anywhere breaks the flag (UnknownNode)."""
    if depth > MAX_DEPTH:
        raise FlagError(f"{where}: expression deeper than {MAX_DEPTH}")
    try:
        check = CHECK.of(expr)
    except UnknownNode:
        raise UnknownNode(expr, where) from None
    check(expr, n_dims, n_strings, where, depth)


def _items(expr: bundle_pb2.Expr, n_dims: int, n_strings: int, where: str, depth: int) -> None:
    for item in getattr(expr, kind_of(expr)).items:
        check_expr(item, n_dims, n_strings, where, depth + 1)


def _not(expr: bundle_pb2.Expr, n_dims: int, n_strings: int, where: str, depth: int) -> None:
    check_expr(getattr(expr, "not"), n_dims, n_strings, where, depth + 1)


def _in(expr: bundle_pb2.Expr, n_dims: int, n_strings: int, where: str, depth: int) -> None:
    inset = getattr(expr, "in")
    _index(where, "dimension", inset.dim, n_dims)
    for s in inset.strings:
        _index(where, "string", s, n_strings)
    for v in inset.values:
        kind = v.WhichOneof("kind")
        if kind is None:
            raise FlagError(f"{where}: set member without a value")
        if kind == "json_value":
            _check_json(where, v.json_value)


def _compare(expr: bundle_pb2.Expr, n_dims: int, n_strings: int, where: str, depth: int) -> None:
    c = expr.compare
    _index(where, "dimension", c.dim, n_dims)
    if c.op == c.OP_UNSPECIFIED or c.kind == c.KIND_UNSPECIFIED:
        raise FlagError(f"{where}: comparison without an operator or kind")


def _match(expr: bundle_pb2.Expr, n_dims: int, n_strings: int, where: str, depth: int) -> None:
    m = expr.match
    _index(where, "dimension", m.dim, n_dims)
    if m.op == m.OP_UNSPECIFIED:
        raise FlagError(f"{where}: match without an operator")
    if m.op == m.OP_REGEX:
        try:
            re.compile(m.pattern)
        except (re.error, RecursionError, OverflowError) as exc:
            raise FlagError(f"{where}: bad regex {m.pattern!r}: {exc}") from None


def _flag(expr: bundle_pb2.Expr, n_dims: int, n_strings: int, where: str, depth: int) -> None:
    kind = expr.flag.value.WhichOneof("kind")
    if kind is None:
        raise FlagError(f"{where}: prerequisite on {expr.flag.key!r} without a value")
    if kind == "json_value":
        _check_json(where, expr.flag.value.json_value)


CHECK: Dispatch[Callable[[bundle_pb2.Expr, int, int, str, int], None]] = Dispatch("check", {
    "constant": lambda expr, n_dims, n_strings, where, depth: None,
    "all": _items,
    "any": _items,
    "not": _not,
    "in": _in,
    "compare": _compare,
    "match": _match,
    "present": lambda expr, n_dims, n_strings, where, depth: _index(where, "dimension", expr.present.dim, n_dims),
    "bucket": lambda expr, n_dims, n_strings, where, depth: _index(where, "bucket unit", expr.bucket.unit, n_dims),
    "flag": _flag,
})


def _index(where: str, what: str, index: int, size: int) -> None:
    if index >= size:
        raise FlagError(f"{where}: {what} index {index} out of range ({size})")


def _check_json(where: str, text: str) -> None:
    try:
        json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise FlagError(f"{where}: bad JSON value: {exc}") from None

