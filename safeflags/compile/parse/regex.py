"""The regular-expression subset flags may use.

SDKs evaluate `regex` conditions on every request, with backtracking
engines (Python's `re`) as well as linear ones (RE2, Go). A pattern is
accepted only if it means the same in both and cannot backtrack
catastrophically in either: no backreferences, no lookaround, no
conditionals, and no unbounded repetition nested inside another.
"""
from __future__ import annotations

import importlib
import re
from collections.abc import Iterable
from typing import Any

# CPython's own pattern parser: private and unstubbed (`sre_parse` is its
# deprecated alias), so it is typed as a module of Any, like its parse trees.
C = importlib.import_module("re._constants")
P = importlib.import_module("re._parser")

MAX_LENGTH = 1000
_REPEATS = {C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT}


def check(pattern: str) -> str | None:
    """None if `pattern` is acceptable, else why not."""
    if len(pattern) > MAX_LENGTH:
        return f"a pattern longer than {MAX_LENGTH} characters"
    try:
        re.compile(pattern)
        parsed = P.parse(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        return f"invalid regular expression: {exc}"
    return _walk(parsed, inside_unbounded=False)


def _walk(items: Iterable[tuple[Any, Any]], inside_unbounded: bool) -> str | None:
    for op, arg in items:
        if op in (C.GROUPREF, C.GROUPREF_IGNORE):
            return "backreferences (\\1) are not supported by linear-time engines"
        if op == C.GROUPREF_EXISTS:
            return "conditional groups (?(1)...) are not supported by linear-time engines"
        if op in (C.ASSERT, C.ASSERT_NOT):
            return "lookaround ((?=...), (?!...), (?<=...), (?<!...)) is not supported by linear-time engines"
        if op in _REPEATS:
            _, hi, sub = arg
            unbounded = hi == C.MAXREPEAT or hi > 1000
            if unbounded and inside_unbounded:
                return "an unbounded repetition inside another (like (a+)+) can take exponential time"
            why = _walk(sub, inside_unbounded or unbounded)
            if why:
                return why
        elif op == C.SUBPATTERN:
            why = _walk(arg[-1], inside_unbounded)
            if why:
                return why
        elif op == C.BRANCH:
            for alt in arg[1]:
                why = _walk(alt, inside_unbounded)
                if why:
                    return why
        elif op == C.ATOMIC_GROUP:
            why = _walk(arg, inside_unbounded)
            if why:
                return why
    return None
