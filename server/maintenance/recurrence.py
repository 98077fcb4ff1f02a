"""When a plan's visits fall: an RFC 5545 RRULE (python-dateutil) read in the company's
local time, moved off non-working days as the plan says.

Pure functions. The rule runs on naive local datetimes (starts_on at time_of_day), so a
daylight-saving change never moves the local time of a visit; the zone is attached after.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from dateutil.rrule import DAILY, rrule, rrulestr

# How far a rule must give its first date, and how far a visit may be moved forward.
FIRST_WITHIN = dt.timedelta(days=3660)
MAX_SHIFT_DAYS = 31
_UTC_UNTIL = re.compile(r"(UNTIL=\d{8}(?:T\d{6})?)Z", re.IGNORECASE)

IsWorkingDay = Callable[[dt.date], bool]


class RuleError(ValueError):
    """The text is not a rule a plan can use; the message says why."""


@dataclass(frozen=True)
class Occurrence:
    occurs_on: dt.date  # the rule's date: the occurrence's identity
    scheduled_on: dt.date  # the visit's day after moving off a non-working day
    starts_at: dt.datetime  # aware, local


def parse_rule(text: str, starts_on: dt.date, time_of_day: str) -> rrule:
    """The rule, or RuleError with dateutil's reason. One RRULE, at most daily."""
    body = " ".join(text.split())
    if body.upper().startswith("RRULE:"):
        body = body[6:]
    if not body:
        raise RuleError("empty: write a rule like FREQ=MONTHLY;BYMONTHDAY=1")
    if any(word in body.upper() for word in ("DTSTART", "RDATE", "EXDATE", "EXRULE", "\n")):
        raise RuleError("one RRULE only; the start is starts_on (and time_of_day)")
    # The rule runs in local time: an UNTIL given in UTC is read as that local moment.
    body = _UTC_UNTIL.sub(r"\1", body)
    start = dt.datetime.combine(starts_on, dt.time.fromisoformat(time_of_day))
    try:
        rule = rrulestr(body, dtstart=start)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        raise RuleError(str(exc) or type(exc).__name__) from exc
    if not isinstance(rule, rrule):
        raise RuleError("one RRULE only")
    if rule._freq > DAILY:
        raise RuleError("planned maintenance recurs at most daily (FREQ=DAILY or longer)")
    if _never_matches(rule):
        raise RuleError("gives no date: no month it names has the days it names")
    # A rule that never matches otherwise would iterate towards the year 9999 before it
    # gives up (the service runs this in a thread with a time limit).
    try:
        bounded = rule.replace(count=None, until=start + FIRST_WITHIN)
        first = next(iter(bounded), None)
    except (ValueError, TypeError, OverflowError) as exc:
        raise RuleError(str(exc)) from exc
    if first is None:
        raise RuleError(f"gives no date in the ten years after {starts_on}")
    return rule


_MONTH_DAYS = {
    1: 31,
    2: 29,
    3: 31,
    4: 30,
    5: 31,
    6: 30,
    7: 31,
    8: 31,
    9: 30,
    10: 31,
    11: 30,
    12: 31,
}


def _never_matches(rule: rrule) -> bool:
    """BYMONTH with BYMONTHDAY that no month has (BYMONTH=2;BYMONTHDAY=30)."""
    months = getattr(rule, "_bymonth", None)
    days = getattr(rule, "_bymonthday", None) or ()
    negative = getattr(rule, "_bynmonthday", None) or ()
    if not months or not (days or negative):
        return False
    return not any(d <= _MONTH_DAYS[m] for m in months for d in days) and not any(
        -d <= _MONTH_DAYS[m] for m in months for d in negative
    )


def local_dates(rule: rrule, start: dt.date, end: dt.date) -> list[dt.datetime]:
    """The rule's naive local datetimes whose date is in [start, end]."""
    lo = dt.datetime.combine(start, dt.time(0))
    hi = dt.datetime.combine(end, dt.time(23, 59, 59))
    return list(rule.between(lo, hi, inc=True))


def next_after(rule: rrule, day: dt.date) -> dt.datetime | None:
    """The first of the rule's datetimes on a date after `day`."""
    found: dt.datetime | None = rule.after(dt.datetime.combine(day, dt.time(23, 59, 59)))
    return found


def first_from(rule: rrule, day: dt.date) -> dt.datetime | None:
    found: dt.datetime | None = rule.after(dt.datetime.combine(day, dt.time(0)), inc=True)
    return found


def shift(day: dt.date, mode: str, is_working: IsWorkingDay | None) -> dt.date | None:
    """The visit's day for a rule date: kept, skipped (None) or the next working day."""
    if mode == "keep" or is_working is None or is_working(day):
        return day
    if mode == "skip":
        return None
    for offset in range(1, MAX_SHIFT_DAYS + 1):
        candidate = day + dt.timedelta(days=offset)
        if is_working(candidate):
            return candidate
    return None


def schedule(
    rule: rrule,
    start: dt.date,
    end: dt.date,
    *,
    mode: str,
    is_working: IsWorkingDay | None,
    zone: ZoneInfo,
) -> list[Occurrence]:
    """Occurrences whose rule date is in [start, end], in order. Dates moved onto a day
    another date already has are one visit, not two (kept by the earliest rule date)."""
    look_back = start - dt.timedelta(days=MAX_SHIFT_DAYS + 1)
    taken: set[dt.date] = set()
    result = []
    for moment in local_dates(rule, look_back, end):
        day = moment.date()
        scheduled = shift(day, mode, is_working)
        if scheduled is None or scheduled in taken:
            continue
        taken.add(scheduled)
        if day < start:
            continue
        local = dt.datetime.combine(scheduled, moment.time(), zone)
        result.append(Occurrence(occurs_on=day, scheduled_on=scheduled, starts_at=local))
    return result
