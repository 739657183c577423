"""Durations and times as the operation commands read them.

A duration is a whole number and a unit, `90s`, `30m`, `24h`, `7d` (what
`--since`, `--bake` and a stage's `bake` accept); a time is RFC 3339 with
an offset (`2026-12-02T09:00:00Z`), returned as an aware UTC datetime.
"""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_DURATION = re.compile(r"(\d+)([smhd])\Z")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str) -> timedelta | None:
    """`text` as a duration, None when it is not one."""
    m = _DURATION.match(text.strip())
    return timedelta(**{_UNITS[m.group(2)]: int(m.group(1))}) if m else None


def parse_time(text: str) -> datetime:
    """`text` as an RFC 3339 time; ValueError says what is wrong with it."""
    try:
        at = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError("is not an RFC 3339 time") from None
    if at.tzinfo is None:
        raise ValueError("has no time zone offset (RFC 3339 needs one, e.g. Z)")
    return at.astimezone(UTC)
