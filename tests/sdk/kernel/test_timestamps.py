"""Timestamps are RFC 3339 date-times with their offset, or a full date
alone (midnight UTC); dates are real calendar days. Python's own ISO 8601
reader accepts far more (`20230101`, `2023-W01-1`, no offset), which other
SDKs would read differently or not at all: the kernel accepts a strict subset
of it, and where both accept, both name the same instant."""
from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safeflags.sdk.kernel import timestamps
from safeflags.sdk.kernel.timestamps import calendar_date, to_epoch

MIDNIGHT_2024 = datetime(2024, 1, 1, tzinfo=UTC).timestamp()

GOOD = [
    ("2024-01-01", MIDNIGHT_2024),
    ("2024-01-01T00:00:00Z", MIDNIGHT_2024),
    ("2024-01-01t00:00:00z", MIDNIGHT_2024),  # RFC 3339 section 5.6: T and Z may be lower case
    ("2024-01-01T05:30:00+05:30", MIDNIGHT_2024),
    ("2023-12-31T23:00:00-01:00", MIDNIGHT_2024),
    ("2024-01-01T00:00:00-00:00", MIDNIGHT_2024),  # "unknown local offset": the instant is still UTC
    ("2024-01-01T00:00:00.5Z", MIDNIGHT_2024 + 0.5),
    ("2024-01-01T00:00:00.123456789Z", MIDNIGHT_2024 + 0.123456789),
    ("2024-02-29T12:00:00Z", datetime(2024, 2, 29, 12, tzinfo=UTC).timestamp()),
    ("1969-12-31T23:59:59.5Z", -0.5),
    ("0001-01-01", datetime(1, 1, 1, tzinfo=UTC).timestamp()),
    ("9999-12-31T23:59:59Z", datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()),
]
BAD = [
    "20240101", "2024-W01-1", "2024W011", "2024-001", "2024001",  # basic, week and ordinal forms
    "2024-01-01T00:00:00",  # no offset
    "2024-01-01 00:00:00Z", "2024-01-01_00:00:00Z",  # no T
    "2024-01-01T00:00Z", "2024-01-01T00Z", "2024-01-01T00:00:00.Z",  # seconds and fraction are whole
    "2024-01-01T00:00:00+0100", "2024-01-01T00:00:00+01", "2024-01-01T00:00:00+01:00:00",
    "2024-01-01T24:00:00Z", "2024-01-01T23:60:00Z", "2024-12-31T23:59:60Z",  # no hour 24, no leap second
    "2024-01-01T00:00:00+24:00", "2024-01-01T00:00:00+01:60",
    "2023-02-29", "2100-02-29", "2024-04-31", "2024-13-01", "2024-00-01", "2024-01-00", "0000-01-01",
    "2024-1-01", "24-01-01", "+2024-01-01", "-2024-01-01", "12024-01-01",
    "\uff12\uff10\uff12\uff14-01-01", "2024-01-01\n", "2024-01-01T00:00:00Z\n", " 2024-01-01", "",
    "2024-01-01T00:00:00." + "1" * 60 + "Z",  # past MAX_LENGTH
    "now", "1704067200",
]


@pytest.mark.parametrize("text, epoch", GOOD)
def test_rfc_3339_and_full_dates_are_read(text: str, epoch: float) -> None:
    assert to_epoch(text) == epoch


@pytest.mark.parametrize("text", BAD)
def test_everything_else_is_not_a_timestamp(text: str) -> None:
    assert to_epoch(text) is None


def test_other_value_types() -> None:
    assert to_epoch(datetime(2024, 1, 1)) == MIDNIGHT_2024  # naive: UTC
    assert to_epoch(datetime(2024, 1, 1, 1, tzinfo=timezone(timedelta(hours=1)))) == MIDNIGHT_2024
    assert to_epoch(1_704_067_200) == to_epoch(1_704_067_200.0) == MIDNIGHT_2024
    assert to_epoch(True) is None and to_epoch(b"2024-01-01") is None and to_epoch(10**400) is None


def test_calendar_dates() -> None:
    assert calendar_date("2024-02-29") == date(2024, 2, 29)
    for text in ["2023-02-29", "2024-13-01", "0000-01-01", "20240101", "2024-W01-1", "2024-01-01T00:00:00Z", ""]:
        assert calendar_date(text) is None, text
    assert calendar_date(20240101) is None  # type: ignore[arg-type]


RFC_3339 = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
                      r"([Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2}))?")

aware = st.builds(
    lambda dt, minutes: dt.replace(tzinfo=timezone(timedelta(minutes=minutes))),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    st.integers(-(24 * 60 - 1), 24 * 60 - 1),
)


@given(aware, st.sampled_from(["seconds", "milliseconds", "microseconds"]), st.booleans())
def test_every_rfc_3339_rendering_of_an_instant_is_that_instant(dt: datetime, spec: str, zulu: bool) -> None:
    shown = dt.replace(microsecond={"seconds": 0, "milliseconds": dt.microsecond // 1000 * 1000}.get(
        spec, dt.microsecond))
    text = shown.isoformat(timespec=spec)
    if zulu and dt.utcoffset() == timedelta(0):
        text = text.replace("+00:00", "Z")
    assert to_epoch(text) == shown.timestamp(), text


@given(st.one_of(
    st.text(alphabet="0123456789-:+TtZz .W", max_size=32),
    st.builds(lambda d, rest: d.isoformat() + rest, st.dates(), st.text(alphabet="0123456789-:+TtZz .", max_size=16)),
))
def test_a_strict_subset_of_iso_8601_with_the_same_instants(text: str) -> None:
    epoch = to_epoch(text)
    if epoch is None:
        return
    assert RFC_3339.fullmatch(text), text
    parsed = datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    if len(text) == 10:
        parsed = parsed.replace(tzinfo=UTC)
    assert parsed.tzinfo is not None
    assert abs(epoch - parsed.timestamp()) < 1e-6, text


def test_the_length_bound_is_what_the_module_says() -> None:
    head = "2024-01-01T00:00:00."
    fits = head + "1" * (timestamps.MAX_LENGTH - len(head) - 1) + "Z"
    assert len(fits) == timestamps.MAX_LENGTH and to_epoch(fits) is not None
    assert to_epoch(fits[:-1] + "1Z") is None
