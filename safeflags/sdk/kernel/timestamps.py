"""Timestamps as seconds since the Unix epoch, shared by compiler and SDK.

A timestamp is an ISO 8601 string (a date alone means midnight UTC; no
offset means UTC), an aware or naive (UTC) datetime, or a number of seconds.
"""
from __future__ import annotations

from datetime import UTC, date, datetime
from functools import lru_cache


@lru_cache(maxsize=4096)
def _parse_text(text: str) -> float | None:
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()
        dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    try:
        return dt.timestamp()
    except (OverflowError, ValueError):
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
