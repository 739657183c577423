"""Regular expressions: RE2's syntax and semantics, for the compiler and the SDK alike.

A `regex` match node searches the value: it matches when the pattern matches
anywhere in it (`^` and `$` anchor it to the value's start and end). Every
pattern is compiled by RE2 (google-re2) with the options `options()` builds,
so `validate` accepts exactly what the SDK compiles, and a pattern means what
it means in RE2 and Go's regexp, not in Python's `re`: `\\d`, `\\w`, `\\s`,
`\\b` and `[[:alpha:]]` are ASCII; `$` is the end of the value (`\\z`), not
also the spot before a final newline; there are no backreferences,
lookaround, atomic groups or possessive repeats.

RE2 never backtracks: a match takes time linear in the value whatever the
pattern, so no pattern can stall a request (nor, holding the GIL, the whole
process).
"""
from __future__ import annotations

import functools

# google-re2 ships no type information.
import re2  # type: ignore[import-untyped]

MAX_MEM = 1 << 20
"""What RE2 may spend on one pattern: its program and its DFA cache (RE2 falls
back to its NFA, still linear, when the DFA budget runs out). 1 MiB instead
of RE2's 8 MiB default, so that what a bundle's patterns can make the SDK
keep is bounded in bytes: a pattern too large for it is refused by validate
and marks its flag broken in the SDK."""

MAX_PROGRAM = 256
"""RE2 instructions a pattern may compile to. RE2 is linear in the input, but
the constant grows with the program when its DFA cannot cache the states
(counted repeats): on 10 kB, `[a-z]{1,1000}[0-9]` (2,004 instructions) took
74-94 ms and 500-1,000 instructions 1-60 ms, where every pattern of at most
256 took under 0.5 ms (benchmarks/redos.py). Ordinary flag patterns (an
e-mail domain, a version prefix) compile to fewer than 100."""

MEMO_BYTES = 32 << 20
MAX_CACHED = MEMO_BYTES // MAX_MEM
"""Compiled patterns kept for the interpreter (32, at most 32 MiB); generated
code holds its own, one per match node of a loaded flag."""

# The binding's own `search` decodes match offsets in Python on every call;
# a yes/no answer needs only the engine's Match (5x faster).
_ENGINE = re2._re2.RE2
_UNANCHORED = _ENGINE.Anchor.UNANCHORED


class RegexError(ValueError):
    """A pattern RE2 does not compile; the message is RE2's."""


def options(ignore_case: bool) -> re2.Options:
    """The options every pattern is compiled with. RE2's defaults otherwise
    (UTF-8, Perl classes, leftmost-first, `.` not matching a newline), with
    at most MAX_MEM bytes per pattern."""
    opts = re2.Options()
    opts.case_sensitive = not ignore_case
    opts.never_capture = True  # only whether it matches is asked: no submatches to track
    opts.log_errors = False  # a refused pattern is reported by the caller, not on stderr
    opts.max_mem = MAX_MEM
    return opts


def _utf8(text: str) -> bytes:
    # A lone surrogate cannot come from JSON, but a caller's str may hold one:
    # RE2 then sees one (ill-formed) character instead of the call failing.
    return text.encode("utf-8", "surrogatepass")


class Regex:
    """One pattern compiled by RE2; RegexError when RE2 does not compile it."""

    __slots__ = ("_match", "engine", "ignore_case", "pattern")

    def __init__(self, pattern: str, ignore_case: bool = False) -> None:
        engine = _ENGINE(_utf8(pattern), options(ignore_case))
        if not engine.ok():
            raise RegexError(engine.error().decode("utf-8", "replace"))
        if engine.ProgramSize() > MAX_PROGRAM:
            raise RegexError(f"pattern too large: {engine.ProgramSize()} RE2 instructions, at most {MAX_PROGRAM}")
        self.pattern = pattern
        self.ignore_case = ignore_case
        self.engine = engine
        self._match = engine.Match

    def search(self, text: str) -> bool:
        """Whether the pattern matches anywhere in `text`."""
        data = _utf8(text)
        return self._match(_UNANCHORED, data, 0, len(data))[0][0] >= 0

    def __repr__(self) -> str:
        return f"Regex({self.pattern!r}{', ignore_case=True' if self.ignore_case else ''})"


@functools.lru_cache(maxsize=MAX_CACHED)
def compiled(pattern: str, ignore_case: bool) -> Regex:
    """`Regex(pattern, ignore_case)`, compiled once and shared (RegexError is
    not kept: a refused pattern is refused again, quickly, on every call).
    Both arguments positional, always: the memo keys on how it is called."""
    return Regex(pattern, ignore_case)
