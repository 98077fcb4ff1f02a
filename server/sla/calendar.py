"""Working time: service calendars with weekly hours, exception days and a timezone.

Pure functions. A calendar of None means 24×7. Times are timezone-aware datetimes; the
calendar's own timezone decides what "Monday 09:00" and "a holiday" are.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

Interval = tuple[dt.time, dt.time]
MAX_DAYS = 3 * 366  # a target further than this many calendar days away is a config error


class CalendarError(ValueError):
    """The calendar cannot produce the requested working time."""


@dataclass(frozen=True)
class WorkCalendar:
    timezone: str = "UTC"
    # weekday (Monday = 0) -> working intervals, e.g. {0: [(09:00, 18:00)], ...}
    week: dict[int, list[Interval]] = field(default_factory=dict)
    # a date -> its intervals instead of the weekday's; [] is a day off (holiday)
    days: dict[dt.date, list[Interval]] = field(default_factory=dict)

    def intervals(self, day: dt.date) -> list[Interval]:
        if day in self.days:
            return self.days[day]
        return self.week.get(day.weekday(), [])

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def _spans(
    cal: WorkCalendar, start: dt.datetime, days: int
) -> Iterator[tuple[dt.datetime, dt.datetime]]:
    """Working spans (aware, in UTC) from the day of `start` on, for `days` days, as they
    are needed: a target a few hours away looks at a day or two, not at MAX_DAYS."""
    zone = cal.zone
    first = start.astimezone(zone).date()
    for offset in range(days):
        day = first + dt.timedelta(days=offset)
        for begin, end in cal.intervals(day):
            a = dt.datetime.combine(day, begin, zone).astimezone(dt.UTC)
            b = (
                dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), zone)
                if end == dt.time(0)
                else dt.datetime.combine(day, end, zone)
            ).astimezone(dt.UTC)
            if b > a:
                yield (a, b)


def add_working_minutes(
    start: dt.datetime, minutes: float, cal: WorkCalendar | None
) -> dt.datetime:
    """The moment when `minutes` of working time have passed since `start`."""
    if cal is None:
        return start + dt.timedelta(minutes=minutes)
    left = dt.timedelta(minutes=minutes)
    for a, b in _spans(cal, start - dt.timedelta(days=1), MAX_DAYS):
        if b <= start:
            continue
        a = max(a, start)
        if b - a >= left:
            return a + left
        left -= b - a
    raise CalendarError(f"the calendar has too little working time for {minutes} minutes")


def working_minutes_between(a: dt.datetime, b: dt.datetime, cal: WorkCalendar | None) -> float:
    """Working minutes in [a, b); 0 when b <= a."""
    if b <= a:
        return 0.0
    if cal is None:
        return (b - a).total_seconds() / 60
    days = (b - a).days + 3
    if days > MAX_DAYS:
        raise CalendarError("interval too long to measure in working time")
    total = dt.timedelta()
    for start, end in _spans(cal, a - dt.timedelta(days=1), days):
        lo, hi = max(start, a), min(end, b)
        if hi > lo:
            total += hi - lo
    return total.total_seconds() / 60


def parse_intervals(raw: list[list[str]]) -> list[Interval]:
    """[["09:00", "18:00"], ...] -> time intervals; "24:00" or "00:00" as an end is midnight."""
    result = []
    for pair in raw:
        if len(pair) != 2:
            raise CalendarError(f"an interval is [start, end], got {pair!r}")
        begin = _time(pair[0])
        end = dt.time(0) if pair[1] in ("24:00", "00:00") else _time(pair[1])
        if end != dt.time(0) and end <= begin:
            raise CalendarError(f"interval {pair[0]}–{pair[1]} ends before it starts")
        result.append((begin, end))
    return sorted(result)


def _time(text: str) -> dt.time:
    try:
        return dt.time.fromisoformat(text)
    except ValueError as exc:
        raise CalendarError(f"{text!r} is not a time like 09:00") from exc
