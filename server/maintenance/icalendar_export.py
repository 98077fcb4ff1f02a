"""The maintenance schedule as iCalendar (RFC 5545, the `icalendar` package), for engineers'
phone calendars.

Events carry their local time with the company's VTIMEZONE, so a phone shows 09:00 on both
sides of a daylight-saving change. A phone calendar subscribes to a URL and cannot log in:
the subscription link carries a signature of the user id made with NARYAD_SECRET_KEY
(GET /api/me/maintenance-calendar gives it), checked before anything is read.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from typing import TYPE_CHECKING, Any

from server.lib.errors import Forbidden
from server.maintenance import service
from server.maintenance.schemas import PlanOut
from server.settings import current as current_settings

if TYPE_CHECKING:
    from icalendar import Event

EVENT_LENGTH = dt.timedelta(hours=1)
PRODID = "-//Naryad//Planned maintenance//EN"


def signature(user_id: int) -> str:
    key = current_settings().secret_key.encode()
    return hmac.new(key, f"maintenance-calendar:{user_id}".encode(), hashlib.sha256).hexdigest()[
        :32
    ]


def require_signature(user_id: int, sig: str) -> None:
    # bytes: compare_digest refuses str with non-ASCII characters (a TypeError, a 500)
    if not hmac.compare_digest(signature(user_id).encode(), (sig or "").encode()):
        raise Forbidden("maintenance.calendar_link_not_valid")


def subscription_url(user_id: int) -> str:
    base = current_settings().public_url.rstrip("/")
    return f"{base}/api/maintenance-plans/calendar.ics?user={user_id}&sig={signature(user_id)}"


def _task_link(task_id: int) -> str:
    return f"{current_settings().public_url.rstrip('/')}/#/tasks/{task_id}"


async def plans_calendar(
    plans: list[PlanOut], date_from: dt.date | None, date_to: dt.date | None, name: str
) -> bytes:
    start = date_from or service.local_today() - dt.timedelta(days=30)
    end = date_to or start + dt.timedelta(days=365)
    from icalendar import Calendar  # loaded by the first calendar asked for, not at start

    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", current_settings().timezone)
    stamp = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)  # fixed: unchanged plans give equal files
    for plan in plans:
        if not plan.active:
            continue
        for item in (await service.occurrences(plan.id, start, end)).items:
            cal.add_component(_event(plan, item.occurs_on, item.starts_at, item.task_id, stamp))
    cal.add_missing_timezones()
    ics: bytes = cal.to_ical()
    return ics


def _event(
    plan: PlanOut, occurs_on: dt.date, starts_at: dt.datetime, task_id: int | None, stamp: Any
) -> Event:
    from icalendar import Event

    event = Event()
    event.add("uid", f"plan-{plan.id}-{occurs_on:%Y%m%d}@naryad")
    event.add("dtstamp", stamp)
    event.add("dtstart", starts_at)
    event.add("dtend", starts_at + EVENT_LENGTH)
    event.add("summary", f"{plan.title}")
    lines = [plan.counterparty.name]
    if plan.site:
        lines.append(plan.site.name)
    if plan.equipment:
        serial = f", s/n {plan.equipment.serial}" if plan.equipment.serial else ""
        lines.append(f"{plan.equipment.kind} {plan.equipment.model}{serial}")
    if plan.description:
        lines.append(plan.description)
    if task_id is not None:
        lines.append(_task_link(task_id))
        event.add("url", _task_link(task_id))
    event.add("description", "\n".join(lines))
    if plan.site:
        event.add("location", plan.site.name)
    return event
