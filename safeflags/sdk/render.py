"""Expressions as text people read, e.g.

    all(region in {"us-east-1"}, bucket(workspace_id, salt="x") in [0, 5000))

Used by `safeflags explain` and in error messages. Strings are JSON-quoted so
the output is unambiguous; an index out of range prints as `?dim7` instead of
failing, since this runs on bundles being debugged. A node without a known
kind is no such detail: it raises UnknownNode, as in every other walker.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from safeflags.sdk.nodes import Dispatch, kind_of
from safeflags.sdk.values import decoded
from safeflags.v1 import bundle_pb2, common_pb2

C = bundle_pb2.Compare
M = bundle_pb2.Match

_OPS = {C.OP_LT: "<", C.OP_LE: "<=", C.OP_GT: ">", C.OP_GE: ">=", C.OP_EQ: "=="}
_MATCH = {M.OP_PREFIX: "startswith", M.OP_SUFFIX: "endswith", M.OP_CONTAINS: "contains", M.OP_REGEX: "matches"}


def render_expr(expr: bundle_pb2.Expr, dims: Sequence[common_pb2.Dimension | str], strings: Sequence[str]) -> str:
    names = [d if isinstance(d, str) else d.name for d in dims]
    return _render(expr, names, strings)


def render_value(value: object) -> str:
    """A Python value (decoded) as JSON-like text; non-JSON values via repr."""
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError):
        return repr(value)


def _name(names: Sequence[str], index: int) -> str:
    return names[index] if index < len(names) else f"?dim{index}"


def _string(strings: Sequence[str], index: int) -> str:
    return render_value(strings[index]) if index < len(strings) else f"?str{index}"


def _number(x: float) -> str:
    if x != x or x in (float("inf"), float("-inf")):
        return repr(x)
    return str(int(x)) if x.is_integer() else repr(x)


def _time(seconds: float) -> str:
    try:
        return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")
    except (OverflowError, ValueError, OSError):
        return repr(seconds)


def _render(e: bundle_pb2.Expr, names: Sequence[str], strings: Sequence[str]) -> str:
    return RENDER.of(e)(e, names, strings)


def _items(e: bundle_pb2.Expr, names: Sequence[str], strings: Sequence[str]) -> str:
    kind = kind_of(e)
    return f"{kind}(" + ", ".join(_render(i, names, strings) for i in getattr(e, kind).items) + ")"


def _in(e: bundle_pb2.Expr, names: Sequence[str], strings: Sequence[str]) -> str:
    s = getattr(e, "in")
    members = [_string(strings, i) for i in s.strings]
    members += [_member(v) for v in s.values]
    return f"{_name(names, s.dim)} in {{{', '.join(members)}}}"


def _compare(e: bundle_pb2.Expr, names: Sequence[str], strings: Sequence[str]) -> str:
    c = e.compare
    op = _OPS.get(c.op, "?")
    if c.kind == C.KIND_SEMVER:
        right = f"semver({render_value(c.text)})"
    elif c.kind == C.KIND_TIMESTAMP:
        right = f"time({render_value(_time(c.number))})"
    else:
        right = _number(c.number)
    return f"{_name(names, c.dim)} {op} {right}"


def _match(e: bundle_pb2.Expr, names: Sequence[str], strings: Sequence[str]) -> str:
    m = e.match
    extra = ", ignore_case" if m.ignore_case else ""
    return f"{_MATCH.get(m.op, '?')}({_name(names, m.dim)}, {render_value(m.pattern)}{extra})"


def _bucket(e: bundle_pb2.Expr, names: Sequence[str], strings: Sequence[str]) -> str:
    b = e.bucket
    return f"bucket({_name(names, b.unit)}, salt={render_value(b.salt)}) in [{b.lo}, {b.hi})"


RENDER: Dispatch[Callable[[bundle_pb2.Expr, Sequence[str], Sequence[str]], str]] = Dispatch("render", {
    "constant": lambda e, names, strings: "true" if e.constant else "false",
    "all": _items,
    "any": _items,
    "not": lambda e, names, strings: f"not({_render(getattr(e, 'not'), names, strings)})",
    "in": _in,
    "compare": _compare,
    "match": _match,
    "present": lambda e, names, strings: f"present({_name(names, e.present.dim)})",
    "bucket": _bucket,
    "flag": lambda e, names, strings: f"flag({render_value(e.flag.key)}) == {_member(e.flag.value)}",
})


def _member(value: common_pb2.Value) -> str:
    try:
        return render_value(decoded(value))
    except ValueError:
        return f"json({value.json_value!r})"
