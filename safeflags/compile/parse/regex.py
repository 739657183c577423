"""Which regular expressions flags may use: exactly what RE2 compiles.

The SDK evaluates `regex` conditions with RE2 (see safeflags.sdk.kernel.regex),
which matches in time linear in the input whatever the pattern, so no pattern
needs to be refused for being slow; a pattern is refused when RE2, with the
options the SDK uses, does not compile it (a backreference, lookaround, a
possessive repeat, `\\Z`...), or when it is longer than MAX_LENGTH. RE2's own
message says what it stopped at; a hint says why where Python's `re` would
have taken the pattern.
"""
from __future__ import annotations

from safeflags.sdk.kernel.regex import Regex, RegexError

MAX_LENGTH = 1000

# (start of RE2's message, why RE2 refuses it): the constructs a Python or
# PCRE habit reaches for.
_HINTS: tuple[tuple[str, str], ...] = (
    *((f"invalid escape sequence: \\{d}", "backreferences (\\1) need backtracking") for d in "123456789"),
    ("invalid escape sequence: \\k", "backreferences (\\k<name>) need backtracking"),
    ("invalid escape sequence: \\g", "backreferences (\\g<1>) need backtracking"),
    ("invalid perl operator: (?P", "backreferences ((?P=name)) need backtracking"),
    ("invalid escape sequence: \\Z", "RE2 writes the end of the text \\z (or $)"),
    ("invalid perl operator: (?=", "lookaround ((?=...)) needs backtracking"),
    ("invalid perl operator: (?!", "lookaround ((?!...)) needs backtracking"),
    ("invalid perl operator: (?<=", "lookaround ((?<=...)) needs backtracking"),
    ("invalid perl operator: (?<!", "lookaround ((?<!...)) needs backtracking"),
    ("invalid perl operator: (?>", "atomic groups ((?>...)) are not RE2 syntax"),
    ("invalid perl operator: (?(", "conditional groups ((?(1)...)) need backtracking"),
    ("invalid repetition size", "a count is at most 1000, and nested counts multiply"),
    ("pattern too large", "large counted repeats such as {1,1000} compile to many instructions: "
     "use + or a smaller count"),
)


def check(pattern: str, ignore_case: bool = False) -> str | None:
    """None if `pattern` is acceptable, else why not."""
    if len(pattern) > MAX_LENGTH:
        return f"a pattern longer than {MAX_LENGTH} characters"
    try:
        Regex(pattern, ignore_case)
    except RegexError as exc:
        return f"invalid regular expression (RE2 syntax): {exc}{_hint(str(exc))}"
    return None


def _hint(message: str) -> str:
    if message.startswith("bad repetition operator") and message.endswith("+"):
        return " (possessive repeats like a*+ are not RE2 syntax)"
    for start, why in _HINTS:
        if message.startswith(start):
            return f" ({why})"
    return ""
