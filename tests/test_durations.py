"""Durations in config and reasons: parse "36h", format "2d 3h", add business time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.durations import add_business_time, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("36h", timedelta(hours=36)),
        ("2d", timedelta(days=2)),
        ("90m", timedelta(minutes=90)),
        ("1w", timedelta(weeks=1)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("1d 12h", timedelta(days=1, hours=12)),
        ("45s", timedelta(seconds=45)),
        (" 2D ", timedelta(days=2)),
        ("0s", timedelta(0)),
    ],
)
def test_parse_duration_accepts_the_documented_forms(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expected e.g."),
        ("48", "units w/d/h/m/s"),
        ("2 days", "unknown unit"),
        ("2y", "unknown unit"),
        ("12h1d", "largest first"),
        ("1h1h", "largest first"),
        ("-2h", "units w/d/h/m/s"),
        ("1.5h", "units w/d/h/m/s"),
        ("2h junk", "units w/d/h/m/s"),
    ],
)
def test_parse_duration_rejects_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        parse_duration(text)
    assert repr(text) in str(info.value)  # the message quotes the offending text


@pytest.mark.parametrize(
    ("td", "expected"),
    [
        (timedelta(days=2, hours=3, minutes=5), "2d 3h"),
        (timedelta(days=2, minutes=5), "2d"),  # a window of two units, not "2d 5m"
        (timedelta(hours=36), "1d 12h"),
        (timedelta(minutes=90), "1h 30m"),
        (timedelta(seconds=45), "45s"),
        (timedelta(0), "0s"),
        (timedelta(milliseconds=300), "0s"),
        (timedelta(hours=-5), "-5h"),
        (timedelta(weeks=1, days=2), "9d"),
    ],
)
def test_format_duration_shows_the_two_largest_units(td: timedelta, expected: str) -> None:
    assert format_duration(td) == expected


@given(st.integers(min_value=0, max_value=10**8))
def test_format_then_parse_round_trips_whole_seconds(seconds: int) -> None:
    td = timedelta(seconds=seconds)
    assert parse_duration(format_duration(td, max_units=4).replace(" ", "")) == td


FRI_10 = datetime(2025, 3, 7, 10, 0, tzinfo=UTC)  # a Friday


def test_business_time_skips_the_weekend() -> None:
    """48h from Friday 10:00: 14h on Friday, 24h on Monday, 10h on Tuesday."""
    assert add_business_time(FRI_10, timedelta(hours=48)) == datetime(2025, 3, 11, 10, tzinfo=UTC)


def test_business_time_started_on_saturday_counts_from_monday() -> None:
    start = datetime(2025, 3, 8, 12, 0, tzinfo=UTC)
    assert add_business_time(start, timedelta(hours=48)) == datetime(2025, 3, 12, 0, tzinfo=UTC)


def test_business_time_within_a_weekday_is_plain_addition() -> None:
    start = datetime(2025, 3, 4, 9, 0, tzinfo=UTC)  # Tuesday
    assert add_business_time(start, timedelta(hours=5)) == start + timedelta(hours=5)


def test_business_time_ending_exactly_at_friday_midnight_does_not_jump_the_weekend() -> None:
    assert add_business_time(FRI_10, timedelta(hours=14)) == datetime(2025, 3, 8, 0, tzinfo=UTC)


def test_business_time_rejects_negative_deltas() -> None:
    with pytest.raises(ValueError, match="negative"):
        add_business_time(FRI_10, timedelta(hours=-1))


@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    st.integers(min_value=0, max_value=60 * 24 * 30),
)
def test_business_time_never_ends_on_a_weekend_and_is_at_least_calendar_time(
    start: datetime, minutes: int
) -> None:
    end = add_business_time(start, timedelta(minutes=minutes))
    assert end >= start + timedelta(minutes=minutes)
    if minutes:
        # the last counted instant lies on a weekday
        assert (end - timedelta(microseconds=1)).weekday() < 5
