"""Structural checks of one compiled flag against its bundle.

The bundle's bytes are already known to be a well-formed protobuf (and to
match their digest); this catches what protobuf cannot: an index out of
range, a value of the wrong type, an enum number the schema does not name, a
regex RE2 does not compile. Run once per flag, lazily, so a malformed flag
breaks only itself (PARSE_ERROR) and a large bundle still loads fast.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from safeflags.sdk.details import FlagError
from safeflags.sdk.kernel import regex
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
    # Last: the tree is known to be shallow by now. protobuf keeps an enum number
    # its schema does not name (a newer compiler's, or a flipped byte) as is.
    unknown = unknown_enum(flag)
    if unknown is not None:
        raise FlagError(f"{flag.key}: {unknown} is not a value of its enum (a newer bundle format, or corrupt)")


def unknown_enum(message: Any) -> str | None:
    """The path and number of the first enum field in `message` (walked
    through every nested message that can hold one) whose number its enum
    does not name, e.g. "rules[0].when.compare.kind = 77"; None when all do.
    The fields come from the schema's descriptors, so a new enum field is
    checked without a change here."""
    for fd, value in message.ListFields():
        inner = fd.message_type.fields_by_name["value"] if _is_map(fd) else fd
        if inner.enum_type is not None:
            for path, number in _members(fd, value):
                if number not in inner.enum_type.values_by_number:
                    return f"{path} = {number}"
        elif inner.message_type is not None and inner.message_type.full_name in _HOLDS_ENUM:
            for path, item in _members(fd, value):
                found = unknown_enum(item)
                if found is not None:
                    return f"{path}.{found}"
    return None


def _is_map(fd: Any) -> bool:
    return fd.message_type is not None and fd.message_type.GetOptions().map_entry


def _members(fd: Any, value: Any) -> Iterator[tuple[str, Any]]:
    """(path, element) for what a field holds: itself, a list's items, a map's values."""
    if _is_map(fd):
        for key in sorted(value):
            yield f"{fd.name}[{key!r}]", value[key]
    elif fd.is_repeated:
        for i, item in enumerate(value):
            yield f"{fd.name}[{i}]", item
    else:
        yield fd.name, value


def _holding_enums(root: Any) -> frozenset[str]:
    """Full names of the message types under `root` that hold an enum field,
    themselves or through a field of a type that does (a fixpoint: Expr
    holds itself)."""
    reachable: dict[str, Any] = {}
    todo = [root]
    while todo:
        desc = todo.pop()
        if desc.full_name not in reachable:
            reachable[desc.full_name] = desc
            todo.extend(fd.message_type for fd in desc.fields if fd.message_type is not None)
    holds = {name for name, desc in reachable.items() if any(fd.enum_type is not None for fd in desc.fields)}
    grew = True
    while grew:
        before = len(holds)
        holds |= {name for name, desc in reachable.items()
                  if any(fd.message_type is not None and fd.message_type.full_name in holds for fd in desc.fields)}
        grew = len(holds) > before
    return frozenset(holds)


_HOLDS_ENUM = _holding_enums(bundle_pb2.CompiledFlag.DESCRIPTOR)


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
        try:  # compiled here, once, with the options evaluation uses; the match nodes reuse it
            regex.compiled(m.pattern, m.ignore_case)
        except regex.RegexError as exc:
            raise FlagError(f"{where}: RE2 does not compile regex {m.pattern!r}: {exc}") from None


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

