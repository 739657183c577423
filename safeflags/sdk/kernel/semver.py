"""Semantic versions (semver.org 2.0.0 ordering), shared by compiler and SDK.

A leading "v" is accepted; missing minor/patch parts count as 0 ("2.14" ==
"2.14.0"); build metadata ("+...") is ignored for ordering.
"""
from __future__ import annotations

import re
from functools import lru_cache

# ASCII digits only (a str pattern's \d also matches "١٣"), and \Z rather than $
# so "1.0.0\n" is not a version.
_SEMVER = re.compile(
    r"^v?(0|[1-9]\d*)(?:\.(0|[1-9]\d*))?(?:\.(0|[1-9]\d*))?"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?\Z",
    re.ASCII,
)

# A sort key: (major, minor, patch, is_release, prerelease identifiers).
# Numeric identifiers sort before alphanumeric ones (semver 11.4.3), so each
# identifier becomes (0, int) or (1, str).
SemverKey = tuple[int, int, int, int, tuple[tuple[int, int | str], ...]]


@lru_cache(maxsize=4096)
def parse(text: str) -> SemverKey | None:
    """The ordering key of `text`, or None if it is not a version."""
    m = _SEMVER.match(text)
    if m is None:
        return None
    major, minor, patch, pre = m.groups()
    ids: tuple[tuple[int, int | str], ...] = ()
    if pre:
        ids = tuple((0, int(p)) if p.isdigit() else (1, p) for p in pre.split("."))
    return (int(major), int(minor or 0), int(patch or 0), 0 if pre else 1, ids)


def is_valid(text: str) -> bool:
    return parse(text) is not None
