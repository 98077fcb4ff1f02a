"""What happens to the directory, as typed events (see server/lib/events.py)."""

from __future__ import annotations

import datetime as dt

from server.lib.events import Event


class SiteSaved(Event, frozen=True, kw_only=True):
    """A site was created or its address or point changed (inside that transaction).
    Geocoding (server/dispatch) decides from it what the site's geocode_status becomes."""

    site_id: int
    created: bool
    address_changed: bool
    # lat/lon were given by hand in this change (null clears them).
    point_given: bool
    at: dt.datetime


class ContactsMerged(Event, frozen=True, kw_only=True):
    """A duplicate contact is merged into another. Emitted inside the merge's transaction,
    before the duplicate is deleted: every domain that refers to contacts (tasks, comments,
    intake records, notifications) moves its rows to the survivor in phase "during"."""

    from_contact_id: int
    into_contact_id: int
    # Who the duplicate was, for the history of the tasks that move.
    from_name: str
    from_email: str | None
    actor_id: int | None
    at: dt.datetime
