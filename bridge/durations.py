"""Parse and format the short durations used in config and in reasons ("36h", "2d", "1d12h")."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta

_UNITS: dict[str, int] = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
_ORDER = "wdhms"
_PART = re.compile(r"\s*(\d+)\s*([a-zA-Z]+)")


def parse_duration(text: str) -> timedelta:
    """Parse "36h", "2d", "90m", "1w", "1d12h", "1d 12h" or "45s" into a timedelta.

    Units are w, d, h, m, s; each at most once, largest first. Anything else is a ValueError
    that names the offending text, so a config error message can quote it.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"invalid duration {text!r}: expected e.g. '36h', '2d', '1d12h'")
    seconds, pos, last_rank = 0, 0, -1
    stripped = text.strip()
    while pos < len(stripped):
        match = _PART.match(stripped, pos)
        if match is None:
            raise ValueError(
                f"invalid duration {text!r}: expected numbers with units w/d/h/m/s, e.g. '1d12h'"
            )
        unit = match.group(2).lower()
        if unit not in _UNITS:
            raise ValueError(f"invalid duration {text!r}: unknown unit {match.group(2)!r}")
        rank = _ORDER.index(unit)
        if rank <= last_rank:
            raise ValueError(f"invalid duration {text!r}: units must appear once, largest first")
        last_rank = rank
        seconds += int(match.group(1)) * _UNITS[unit]
        pos = match.end()
    return timedelta(seconds=seconds)


def format_duration(td: timedelta, max_units: int = 2) -> str:
    """Format a timedelta as "2d 3h": `max_units` units from the largest non-zero one, rounded down.

    Weeks are shown as days (people read "9d" faster than "1w 2d"); below one second is "0s".
    """
    total = int(td.total_seconds())
    sign = "-" if total < 0 else ""
    amounts: list[tuple[int, str]] = []
    rest = abs(total)
    for unit in "dhms":
        amount, rest = divmod(rest, _UNITS[unit])
        amounts.append((amount, unit))
    first = next((i for i, (amount, _) in enumerate(amounts) if amount), None)
    if first is None:
        return "0s"
    # a window of units from the largest non-zero one: 2d 0h 5m reads "2d", not "2d 5m"
    shown = [f"{amount}{unit}" for amount, unit in amounts[first : first + max_units] if amount]
    return sign + " ".join(shown)


def add_business_time(start: datetime, delta: timedelta) -> datetime:
    """Return when `delta` of Monday-to-Friday time has passed since `start` (weekends are skipped).

    Weekdays are taken in start's timezone (UTC for Mail dates). A start on a weekend begins
    counting on Monday 00:00, so "48h" from Saturday noon ends on Wednesday 00:00.
    """
    if delta < timedelta(0):
        raise ValueError(f"business time must not be negative: {delta}")
    current, remaining = start, delta
    # one iteration per calendar day: bounded by the span of the delta plus its weekends
    for _ in range(delta.days * 2 + 10):
        day_end = datetime.combine(current.date() + timedelta(days=1), time(), current.tzinfo)
        if current.weekday() >= 5:
            current = day_end
            continue
        if current + remaining <= day_end:
            return current + remaining
        remaining -= day_end - current
        current = day_end
    raise AssertionError("unreachable: the loop covers every day of the delta")
