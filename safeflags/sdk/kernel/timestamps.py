"""Timestamps as seconds since the Unix epoch, shared by compiler and SDK.

A timestamp is one of:
- an RFC 3339 date-time, `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)`
  (`T` and `Z` may be lower case, RFC 3339 section 5.6; `-00:00` is UTC);
- a full date alone, `YYYY-MM-DD`, meaning midnight UTC (flag files write
  schedules as dates);
- an aware datetime, or a naive one (read as UTC), or a number of seconds.

Nothing else, so every SDK reads a literal the same way: no basic format
(`20230101`), week (`2023-W01-1`) or ordinal (`2023-001`) dates, no date-time
without its offset, no space for `T`, no leap second (`:60`, which Python's
clock cannot hold), years 0001-9999, every field in range, every date a real
calendar date, and at most 64 characters.
"""
from __future__ import annotations

import re
from datetime import UTC, date, datetime

from safeflags.sdk.kernel.parse_cache import parse_cache

MAX_LENGTH = 64
"""Longest timestamp text read: room for a fraction finer than any clock, and a
bound on what a hostile request value costs to refuse."""

# The grammar is all here, field ranges included, ASCII digits only (a str
# pattern's \d also matches other scripts' digits), \Z so "...Z\n" is not a
# time. What is left to the datetime module (C, so a cache miss stays cheap) is
# the length of each month and the years 0001-9999, and the arithmetic; for
# text this pattern admits its reading is the same on every Python from 3.11.
_DAY = r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
_DATE = re.compile(_DAY + r"\Z", re.ASCII)
_DATE_TIME = re.compile(
    _DAY + r"[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.([0-9]+))?"
    r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])\Z",
    re.ASCII,
)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


@parse_cache()  # a request's texts: only short ones are kept
def _parse_text(text: str) -> float | None:
    if len(text) > MAX_LENGTH:
        return None
    if len(text) == 10:
        day = calendar_date(text)
        return None if day is None else float((day.toordinal() - _EPOCH_ORDINAL) * 86400)
    m = _DATE_TIME.match(text)
    if m is None:
        return None
    if text[10] == "t" or text[-1] == "z":
        text = text.upper()
    try:
        when = datetime.fromisoformat(text)
    except ValueError:  # February 30th, year 0000
        return None
    fraction = m.group(1)
    if fraction is None or len(fraction) <= 6:
        return when.timestamp()
    # Finer than datetime holds: one exact division, not the microseconds it kept.
    scale = 10 ** len(fraction)
    return (round(when.replace(microsecond=0).timestamp()) * scale + int(fraction)) / scale


def calendar_date(text: str) -> date | None:
    """The date `YYYY-MM-DD` names, or None when `text` is not a real calendar date."""
    if type(text) is not str or _DATE.match(text) is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:  # February 30th, year 0000
        return None


def to_epoch(value: object) -> float | None:
    """Seconds since the epoch, or None when `value` is not a timestamp."""
    # Exact types, not isinstance: a bool is not a time.
    if type(value) is float:
        return value
    if type(value) is int:
        try:
            return float(value)
        except OverflowError:  # beyond any float: not a time anyone means
            return None
    if type(value) is str:
        return _parse_text(value)
    if isinstance(value, datetime):
        try:
            if value.tzinfo is None:
                value = value.replace(tzinfo=UTC)
            return value.timestamp()
        except (OverflowError, ValueError):
            return None
    return None
