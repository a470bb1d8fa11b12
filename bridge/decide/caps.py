"""Publishing caps an admin sets (per hour/day, spacing, quiet hours, monthly budget): pure arithmetic.

Every function takes the history of posts and `now`; none reads a clock or a database. The
hourly cap is a rolling 60 minutes; the daily cap, quiet hours and the budget's month follow the
admin's local calendar (`timezone`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

HOUR = timedelta(hours=1)
MAX_STEPS = 64  # each step moves the candidate time forward; a handful always suffices
_CLOCK = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")


@dataclass(frozen=True, slots=True)
class PublishSettings:
    """[publish]: when and how much the bridge may post. Prices are X's per-post charges (USD)."""

    dry_run: bool = False  # do everything but the call to X (rows get status 'dry_run')
    max_per_hour: int = 2  # rolling 60 minutes
    max_per_day: int = 10  # local calendar day
    min_spacing: timedelta = timedelta(minutes=20)
    quiet_hours: str = ""  # "22:00-07:00" (local time; may cross midnight); "" = none
    timezone: str = "UTC"
    monthly_budget_usd: float = 10.0
    price_post_with_link: float = 0.20  # X bills each post carrying a URL at this price
    price_post: float = 0.015
    mass_new_threshold: int = 5  # more new due threads than this at once are held; 0 = off
    reconcile_window: timedelta = timedelta(hours=2)  # an unconfirmed post is re-sent only after it

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def quiet(self) -> tuple[time, time] | None:
        return parse_quiet_hours(self.quiet_hours)


@dataclass(frozen=True, slots=True)
class Slot:
    """The earliest moment a post may go out, and what held it back ("" = nothing: now)."""

    at: datetime
    reason: str = ""


def parse_quiet_hours(text: str) -> tuple[time, time] | None:
    """"22:00-07:00" -> (22:00, 07:00); "" -> None. Start and end must differ."""
    if not text.strip():
        return None
    parts = [p.strip() for p in text.split("-")]
    matches = [_CLOCK.fullmatch(p) for p in parts]
    if len(parts) != 2 or not all(matches):
        raise ValueError(f'invalid quiet hours {text!r}: expected "HH:MM-HH:MM", e.g. "22:00-07:00"')
    start, end = (time(int(m.group(1)), int(m.group(2))) for m in matches if m)
    if start == end:
        raise ValueError(f"invalid quiet hours {text!r}: start and end must differ")
    return start, end


def in_quiet_hours(when: datetime, settings: PublishSettings) -> bool:
    quiet = settings.quiet
    if quiet is None:
        return False
    start, end = quiet
    local = when.astimezone(settings.zone).time()
    if start < end:
        return start <= local < end
    return local >= start or local < end  # across midnight


def quiet_end(when: datetime, settings: PublishSettings) -> datetime:
    """When the quiet period containing `when` ends (`when` must be in quiet hours)."""
    quiet = settings.quiet
    if quiet is None:
        return when
    start, end = quiet
    local = when.astimezone(settings.zone)
    day = local.date()
    if start > end and local.time() >= start:
        day += timedelta(days=1)  # the evening part: the period ends tomorrow morning
    return _local_instant_after(day, end, when, settings.zone)


def _local_instant_after(day: date, clock: time, after: datetime, zone: tzinfo) -> datetime:
    """The local wall time `clock` on `day` as an aware instant later than `after`.

    A wall time repeated by a DST change has two instants (fold 0/1): take the first one after
    `after`; one skipped by DST maps past the gap. Never returns an instant <= `after`. The result
    is in UTC: an aware datetime with fold=1 never compares equal to one in another zone.
    """
    for fold in (0, 1):
        candidate = datetime.combine(day, clock, zone).replace(fold=fold).astimezone(UTC)
        if candidate > after:
            return candidate
    return after + timedelta(minutes=1)


def day_start(when: datetime, zone: tzinfo) -> datetime:
    return datetime.combine(when.astimezone(zone).date(), time(), zone).astimezone(UTC)


def next_day_start(when: datetime, zone: tzinfo) -> datetime:
    tomorrow = when.astimezone(zone).date() + timedelta(days=1)
    return _local_instant_after(tomorrow, time(), when, zone)


def month_start(when: datetime, zone: tzinfo) -> datetime:
    return datetime.combine(when.astimezone(zone).date().replace(day=1), time(), zone).astimezone(UTC)


def next_month_start(when: datetime, zone: tzinfo) -> datetime:
    first = when.astimezone(zone).date().replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return _local_instant_after(following, time(), when, zone)


def price_of(link: str, settings: PublishSettings) -> float:
    """What X charges for one post: every post of the bridge carries its thread's link."""
    return settings.price_post_with_link if link else settings.price_post


def _step(history: Sequence[datetime], t: datetime, settings: PublishSettings) -> Slot | None:
    """The earliest later time one violated cap allows, or None when `t` breaks no cap."""
    if in_quiet_hours(t, settings):
        return Slot(quiet_end(t, settings), "quiet hours")
    if history and t < max(history) + settings.min_spacing:
        return Slot(max(history) + settings.min_spacing, "minimum spacing")
    recent = sorted(h for h in history if t - HOUR < h <= t)
    if len(recent) >= settings.max_per_hour:
        return Slot(recent[-settings.max_per_hour] + HOUR, f"{settings.max_per_hour} posts per hour")
    start = day_start(t, settings.zone)
    if sum(1 for h in history if start <= h <= t) >= settings.max_per_day:
        return Slot(next_day_start(t, settings.zone), f"{settings.max_per_day} posts per day")
    return None


def next_slot(history: Sequence[datetime], now: datetime, settings: PublishSettings) -> Slot:
    """The earliest time >= now that breaks no count cap, spacing or quiet hours.

    `history` holds the times of posts that count (all <= now). Each step jumps to the first
    moment the violated cap allows, and every moment skipped violates it, so the result is the
    earliest allowed time, not just an allowed one.
    """
    t, reason = now, ""
    for _ in range(MAX_STEPS):
        step = _step(history, t, settings)
        if step is None:
            return Slot(t, reason)
        t, reason = step.at, step.reason
    raise AssertionError("caps did not settle: quiet hours cannot cover the whole day")


def plan_slot(
    history: Sequence[datetime], spent: float, price: float, now: datetime,
    settings: PublishSettings,
) -> Slot:
    """next_slot, with the monthly budget: over it, nothing goes out before next month."""
    if spent + price > settings.monthly_budget_usd + 1e-9:
        month = next_month_start(now, settings.zone)
        slot = next_slot(history, month, settings)
        return Slot(slot.at, f"monthly budget ${settings.monthly_budget_usd:.2f} "
                             f"(spent ${spent:.2f})")
    return next_slot(history, now, settings)
