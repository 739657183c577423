"""Semantic versions, semver.org 2.0.0, shared by compiler and SDK.

The grammar is semver 2.0.0's own: numeric identifiers (major, minor, patch and
numeric pre-release identifiers) have no leading zeros, identifiers are
`[0-9A-Za-z-]+` and never empty, ASCII only. Precedence is semver's section
11: major, minor, patch numerically; a pre-release sorts before its release;
pre-release identifiers compare left to right, numeric ones numerically and
below alphanumeric ones, which compare in ASCII order, and a longer list wins
a tie; build metadata ("+...") is ignored.

Two spellings services commonly report are read as the version they mean, and
by every SDK the same way: a leading "v" ("v2.14.0"), and missing minor and
patch parts, which count as 0 ("2.14" is "2.14.0", "2-rc.1" is "2.0.0-rc.1").
A text longer than 256 characters is not a version (as in node-semver).
"""
from __future__ import annotations

import re

from safeflags.sdk.kernel.parse_cache import parse_cache

MAX_LENGTH = 256
"""Longest version text read; it also keeps every number within what int() takes."""

# ASCII only (a str pattern's \d also matches "١٣"), and \Z rather than $ so
# "1.0.0\n" is not a version. Pre-release identifiers are checked one by one
# below (no leading zero in a numeric one), which keeps the pattern linear.
_SEMVER = re.compile(
    r"v?(0|[1-9][0-9]*)(?:\.(0|[1-9][0-9]*)(?:\.(0|[1-9][0-9]*))?)?"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?\Z",
    re.ASCII,
)

# A sort key: (major, minor, patch, is_release, prerelease identifiers).
# Numeric identifiers sort before alphanumeric ones (semver 11.4.3), so each
# identifier becomes (0, int) or (1, str).
SemverKey = tuple[int, int, int, int, tuple[tuple[int, int | str], ...]]


@parse_cache()  # a request's texts: only short ones are kept
def parse(text: str) -> SemverKey | None:
    """The ordering key of `text`, or None if it is not a version."""
    if len(text) > MAX_LENGTH:
        return None
    m = _SEMVER.match(text)
    if m is None:
        return None
    major, minor, patch, pre = m.groups()
    ids: tuple[tuple[int, int | str], ...] = ()
    if pre:
        parts = pre.split(".")
        # The pattern admits [0-9A-Za-z-]+; semver 9 forbids "01" and allows "0a".
        if any(p[0] == "0" and len(p) > 1 and p.isdigit() for p in parts):
            return None
        ids = tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts)
    return (int(major), int(minor or 0), int(patch or 0), 0 if pre else 1, ids)


def is_valid(text: str) -> bool:
    return parse(text) is not None


_STRICT = re.compile(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(?:[-+][0-9A-Za-z.+-]*)?\Z", re.ASCII)


def is_strict(text: str) -> bool:
    """A version exactly as semver 2.0.0 writes it: MAJOR.MINOR.PATCH, no "v",
    with the pre-release and build rules of `parse`. What a flag file may
    write, so a bundle only ever holds versions every semver library reads;
    the two lenient spellings are for what services report at run time."""
    return len(text) <= MAX_LENGTH and _STRICT.match(text) is not None and parse(text) is not None
