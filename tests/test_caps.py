"""Cap arithmetic (bridge.decide.caps): quiet hours, spacing, hourly/daily caps, budget, config reading."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.config.policy import read_publish
from bridge.config.reader import Section
from bridge.decide.caps import (
    PublishSettings,
    in_quiet_hours,
    next_month_start,
    next_slot,
    parse_quiet_hours,
    plan_slot,
    price_of,
    quiet_end,
)

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
FREE = PublishSettings(max_per_hour=100, max_per_day=100, min_spacing=timedelta(0))
LONDON = ZoneInfo("Europe/London")


def at(y: int, mo: int, d: int, h: int = 0, mi: int = 0, tz: ZoneInfo | None = None) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=tz or UTC)


# -- quiet hours ------------------------------------------------------------------------------
def test_parse_quiet_hours_accepts_ranges_and_empty() -> None:
    assert parse_quiet_hours("22:00-07:00") == (time(22), time(7))
    assert parse_quiet_hours(" 9:30 - 17:05 ") == (time(9, 30), time(17, 5))
    assert parse_quiet_hours("") is None


@pytest.mark.parametrize("text", ["22-07", "22:00", "25:00-07:00", "22:00-22:00", "a-b", "1:2-3:4"])
def test_parse_quiet_hours_rejects_malformed_or_empty_ranges(text: str) -> None:
    with pytest.raises(ValueError, match="quiet hours"):
        parse_quiet_hours(text)


@pytest.mark.parametrize(("local", "quiet"), [
    ((21, 59), False), ((22, 0), True), ((23, 30), True), ((0, 0), True), ((6, 59), True),
    ((7, 0), False), ((12, 0), False),
])
def test_quiet_hours_across_midnight_cover_evening_and_early_morning(
    local: tuple[int, int], quiet: bool,
) -> None:
    s = replace(FREE, quiet_hours="22:00-07:00", timezone="Europe/London")
    assert in_quiet_hours(at(2026, 1, 15, *local, tz=LONDON), s) is quiet


def test_quiet_hours_follow_the_local_zone_through_summer_time() -> None:
    s = replace(FREE, quiet_hours="22:00-07:00", timezone="Europe/London")
    assert in_quiet_hours(at(2026, 1, 15, 22, 30), s)  # 22:30 GMT
    assert in_quiet_hours(at(2026, 1, 15, 6, 30), s)  # 06:30 GMT
    assert not in_quiet_hours(at(2026, 7, 15, 6, 30), s)  # 07:30 BST
    assert in_quiet_hours(at(2026, 7, 15, 5, 59), s)  # 06:59 BST
    assert not in_quiet_hours(at(2026, 7, 15, 6, 0), s)  # 07:00 BST


def test_quiet_end_is_next_morning_from_the_evening_and_same_morning_after_midnight() -> None:
    s = replace(FREE, quiet_hours="22:00-07:00", timezone="Asia/Tokyo")
    tokyo = ZoneInfo("Asia/Tokyo")
    assert quiet_end(at(2026, 3, 2, 23, 0, tz=tokyo), s) == at(2026, 3, 3, 7, 0, tz=tokyo)
    assert quiet_end(at(2026, 3, 3, 1, 0, tz=tokyo), s) == at(2026, 3, 3, 7, 0, tz=tokyo)


def test_quiet_hours_within_one_day() -> None:
    s = replace(FREE, quiet_hours="12:00-13:30")
    assert in_quiet_hours(at(2026, 3, 2, 12, 45), s) and not in_quiet_hours(at(2026, 3, 2, 13, 30), s)
    assert quiet_end(at(2026, 3, 2, 12, 45), s) == at(2026, 3, 2, 13, 30)


def test_quiet_end_on_a_dst_change_night_is_a_real_instant_after_now() -> None:
    s = replace(FREE, quiet_hours="00:30-01:30", timezone="Europe/London")
    second_pass = at(2026, 10, 25, 1, 10)  # 01:10 GMT, the second 01:10 of the night (fold=1)
    assert in_quiet_hours(second_pass, s)
    assert quiet_end(second_pass, s) == at(2026, 10, 25, 1, 30)
    skipped = replace(s, quiet_hours="00:00-01:30")  # 01:30 does not exist on 29 March
    end = quiet_end(at(2026, 3, 29, 0, 15), skipped)
    assert end > at(2026, 3, 29, 0, 15) and not in_quiet_hours(end, skipped)


# -- next_slot --------------------------------------------------------------------------------
def test_nothing_posted_and_no_quiet_hours_means_now() -> None:
    assert next_slot([], T0, PublishSettings()).at == T0
    assert next_slot([], T0, PublishSettings()).reason == ""


def test_minimum_spacing_counts_from_the_last_post() -> None:
    s = replace(FREE, min_spacing=timedelta(minutes=20))
    slot = next_slot([T0 - timedelta(minutes=5)], T0, s)
    assert (slot.at, slot.reason) == (T0 + timedelta(minutes=15), "minimum spacing")


def test_hourly_cap_is_a_rolling_window_freed_by_the_oldest_post_in_it() -> None:
    s = replace(FREE, max_per_hour=2)
    history = [T0 - timedelta(minutes=50), T0 - timedelta(minutes=10)]
    assert next_slot(history, T0, s).at == T0 + timedelta(minutes=10)
    assert next_slot([T0 - timedelta(minutes=61), *history[1:]], T0, s).at == T0


def test_daily_cap_waits_for_local_midnight() -> None:
    s = replace(FREE, max_per_day=2, timezone="America/Los_Angeles")
    la = ZoneInfo("America/Los_Angeles")
    history = [at(2026, 3, 2, 8, tz=la), at(2026, 3, 2, 9, tz=la)]
    slot = next_slot(history, at(2026, 3, 2, 10, tz=la), s)
    assert (slot.at, slot.reason) == (at(2026, 3, 3, 0, tz=la), "2 posts per day")
    assert next_slot(history, at(2026, 3, 3, 0, 1, tz=la), s).at == at(2026, 3, 3, 0, 1, tz=la)


def test_caps_combine_daily_cap_then_quiet_hours_push_to_morning() -> None:
    s = replace(FREE, max_per_day=1, quiet_hours="22:00-07:00", timezone="Europe/London")
    slot = next_slot([at(2026, 1, 15, 9)], at(2026, 1, 15, 12), s)
    assert (slot.at, slot.reason) == (at(2026, 1, 16, 7), "quiet hours")


def test_budget_blocks_until_the_next_local_month_then_caps_still_apply() -> None:
    s = replace(FREE, monthly_budget_usd=1.0, quiet_hours="00:00-08:00", timezone="Europe/London")
    slot = plan_slot([], spent=0.90, price=0.20, now=at(2026, 3, 20, 12), settings=s)
    assert slot.at == at(2026, 4, 1, 8, tz=LONDON)  # April: BST
    assert slot.reason.startswith("monthly budget $1.00")
    assert plan_slot([], spent=0.80, price=0.20, now=T0, settings=s).at == T0  # exactly at budget


def test_price_depends_on_the_link_and_next_month_crosses_the_year() -> None:
    s = PublishSettings()
    assert price_of("https://x.example/a", s) == 0.20 and price_of("", s) == 0.015
    assert next_month_start(at(2026, 12, 31, 23, 0), UTC) == at(2027, 1, 1)


# -- properties -------------------------------------------------------------------------------
ZONES = ["UTC", "Europe/London", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]
clock = st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))
caps = st.builds(
    PublishSettings,
    max_per_hour=st.integers(1, 4), max_per_day=st.integers(1, 8),
    min_spacing=st.integers(0, 90).map(lambda m: timedelta(minutes=m)),
    quiet_hours=st.one_of(st.just(""), st.tuples(clock, clock).filter(lambda t: t[0] != t[1])
                          .map(lambda t: f"{t[0]}-{t[1]}")),
    timezone=st.sampled_from(ZONES),
)
instants = st.integers(0, 400 * 86_400).map(
    lambda s: datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=s))


def allowed(history: list[datetime], t: datetime, s: PublishSettings) -> bool:
    """An independent reading of the caps at one instant."""
    local = t.astimezone(s.zone)
    midnight = datetime.combine(local.date(), time(), s.zone)
    return (not in_quiet_hours(t, s)
            and all(t >= h + s.min_spacing for h in history)
            and sum(1 for h in history if t - timedelta(hours=1) < h <= t) < s.max_per_hour
            and sum(1 for h in history if midnight <= h <= t) < s.max_per_day)


@settings(max_examples=300, deadline=None)
@given(caps, instants, st.lists(st.integers(1, 3 * 86_400), max_size=12), st.data())
def test_next_slot_is_allowed_and_nothing_earlier_is(
    s: PublishSettings, now: datetime, ages: list[int], data: st.DataObject,
) -> None:
    history = sorted(now - timedelta(seconds=a) for a in ages)
    slot = next_slot(history, now, s)
    assert slot.at >= now
    assert allowed(history, slot.at, s)
    if slot.at > now:
        assert slot.reason
        assert not allowed(history, slot.at - timedelta(seconds=1), s)
        span = int((slot.at - now).total_seconds())
        probe = data.draw(st.integers(0, span - 1))
        assert not allowed(history, now + timedelta(seconds=probe), s)


@settings(max_examples=100, deadline=None)
@given(caps, instants, st.floats(0, 20), st.floats(0, 1))
def test_plan_slot_over_budget_is_never_in_this_month(
    s: PublishSettings, now: datetime, spent: float, price: float,
) -> None:
    slot = plan_slot([], spent, price, now, replace(s, monthly_budget_usd=10.0))
    month = now.astimezone(s.zone).strftime("%Y-%m")
    if spent + price > 10.0 + 1e-9:
        assert slot.at.astimezone(s.zone).strftime("%Y-%m") != month and slot.at > now
    else:
        assert slot == next_slot([], now, replace(s, monthly_budget_usd=10.0))


# -- config -----------------------------------------------------------------------------------
def read(data: dict[str, object]) -> tuple[PublishSettings, list[str]]:
    problems: list[str] = []
    return read_publish(Section(data, "publish", problems)), problems


def test_read_publish_reads_every_key() -> None:
    got, problems = read({
        "dry_run": True, "max_per_hour": 3, "max_per_day": 12, "min_spacing": "30m",
        "quiet_hours": "22:00-07:00", "timezone": "Europe/London", "monthly_budget_usd": 25,
        "price_post_with_link": 0.25, "price_post": 0.02, "mass_new_threshold": 0,
        "reconcile_window": "3h",
    })
    assert problems == []
    assert got == PublishSettings(True, 3, 12, timedelta(minutes=30), "22:00-07:00",
                                  "Europe/London", 25.0, 0.25, 0.02, 0, timedelta(hours=3))
    assert read({}) == (PublishSettings(), [])


def test_read_publish_reports_each_bad_value_with_its_key_path() -> None:
    got, problems = read({"timezone": "Mars/Olympus", "quiet_hours": "late", "max_per_hour": 0,
                          "reconcile_window": "1m", "min_spacing": "soon", "colour": "blue"})
    assert [p.split(":")[0] for p in problems] == [
        "publish.max_per_hour", "publish.min_spacing", "publish.colour", "publish.timezone",
        "publish.quiet_hours", "publish.reconcile_window"]
    assert got.timezone == "UTC" and got.quiet_hours == "" and got.max_per_hour == 2
