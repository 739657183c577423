"""A bounded memo for parsers of request text (versions, timestamps).

A request chooses the texts it sends, so a cache keyed by them must not keep
what it is sent: only texts of at most `longest` characters are kept (a
longer one is parsed on every call), at most `entries` of them, least
recently used first out. The cache then holds at most `entries × longest`
characters of keys: with the defaults and the parsers' results, under
`MAX_BYTES` whatever the texts (see tests/security/test_sdk_memory.py).
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

R = TypeVar("R")

LONGEST = 64
"""Longest text kept: room for any version or timestamp anyone writes."""

ENTRIES = 1024
"""Texts kept per parser: more versions than a service sees from its clients."""

MAX_BYTES = 4 << 20
"""What one parser's cache may hold at most, keys and results, in bytes. The
largest entry is a version of 64 characters made of 19 two-character
prerelease identifiers (~1.4 kB with its key and the cache's links, so ~1.4 MB
full); a key of 64 characters of the widest kind takes ~440 bytes."""


_clears: list[Callable[[], None]] = []


def clear() -> None:
    """Empty every parse cache (tests measure what a full one holds from empty)."""
    for clear_one in _clears:
        clear_one()


def parse_cache(longest: int = LONGEST, entries: int = ENTRIES) -> Callable[[Callable[[str], R]], Callable[[str], R]]:
    """Memoise a parser `str -> R` for texts of at most `longest` characters."""

    def wrap(parse: Callable[[str], R]) -> Callable[[str], R]:
        cached = functools.lru_cache(maxsize=entries)(parse)
        _clears.append(cached.cache_clear)

        @functools.wraps(parse)
        def lookup(text: str) -> R:
            if len(text) > longest:
                return parse(text)
            return cached(text)

        return lookup

    return wrap
