"""Timestamps as seconds since the Unix epoch, shared by compiler and SDK.

A timestamp is an ISO 8601 string (a date alone means midnight UTC; no
offset means UTC), an aware or naive (UTC) datetime, or a number of seconds.
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from functools import lru_cache


@lru_cache(maxsize=4096)
def _parse_text(text: str) -> float | None:
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day, tzinfo=timezone.utc).timestamp()
        dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    try:
        return dt.timestamp()
    except (OverflowError, ValueError):
        return None


def to_epoch(value: object) -> float | None:
    """Seconds since the epoch, or None when `value` is not a timestamp."""
    kind = type(value)
    if kind is float:
        return value  # type: ignore[return-value]
    if kind is int:
        try:
            return float(value)  # type: ignore[arg-type]
        except OverflowError:  # beyond any float: not a time anyone means
            return None
    if kind is str:
        return _parse_text(value)  # type: ignore[arg-type]
    if isinstance(value, datetime):
        try:
            if value.tzinfo is None:
                value = value.replace(tzinfo=timezone.utc)
            return value.timestamp()
        except (OverflowError, ValueError):
            return None
    return None
