"""The regular-expression subset flags may use.

SDKs evaluate `regex` conditions on every request, with backtracking
engines (Python's `re`) as well as linear ones (RE2, Go). A pattern is
accepted only if it means the same in both and cannot backtrack
catastrophically in either: no backreferences, no lookaround, no
conditionals, and no unbounded repetition nested inside another.
"""
from __future__ import annotations

import re

try:  # Python >= 3.11 keeps the parser here
    from re import _constants as C  # type: ignore[attr-defined]
    from re import _parser as P  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover
    import sre_constants as C  # type: ignore[no-redef]
    import sre_parse as P  # type: ignore[no-redef]

MAX_LENGTH = 1000
_REPEATS = {C.MAX_REPEAT, C.MIN_REPEAT, getattr(C, "POSSESSIVE_REPEAT", C.MAX_REPEAT)}


def check(pattern: str) -> str | None:
    """None if `pattern` is acceptable, else why not."""
    if len(pattern) > MAX_LENGTH:
        return f"a pattern longer than {MAX_LENGTH} characters"
    try:
        re.compile(pattern)
        parsed = P.parse(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        return f"invalid regular expression: {exc}"
    return _walk(list(parsed), inside_unbounded=False)


def _walk(items: list[tuple[object, object]], inside_unbounded: bool) -> str | None:
    for op, arg in items:
        if op in (C.GROUPREF, getattr(C, "GROUPREF_IGNORE", None)):
            return "backreferences (\\1) are not supported by linear-time engines"
        if op == C.GROUPREF_EXISTS:
            return "conditional groups (?(1)...) are not supported by linear-time engines"
        if op in (C.ASSERT, C.ASSERT_NOT):
            return "lookaround ((?=...), (?!...), (?<=...), (?<!...)) is not supported by linear-time engines"
        if op in _REPEATS:
            lo, hi, sub = arg  # type: ignore[misc]
            unbounded = hi == C.MAXREPEAT or hi > 1000
            if unbounded and inside_unbounded:
                return "an unbounded repetition inside another (like (a+)+) can take exponential time"
            why = _walk(list(sub), inside_unbounded or unbounded)
            if why:
                return why
        elif op == C.SUBPATTERN:
            why = _walk(list(arg[-1]), inside_unbounded)  # type: ignore[index]
            if why:
                return why
        elif op == C.BRANCH:
            for alt in arg[1]:  # type: ignore[index]
                why = _walk(list(alt), inside_unbounded)
                if why:
                    return why
        elif op == getattr(C, "ATOMIC_GROUP", None):
            why = _walk(list(arg), inside_unbounded)  # type: ignore[arg-type]
            if why:
                return why
    return None
