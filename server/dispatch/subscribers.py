"""What dispatch does when the directory or tasks change.

- SiteSaved: the site's geocode status follows (pending and a lookup after the commit,
  manual when its point was set by hand or no geocoder is configured).
- TaskCreated without a site: when the counterparty has exactly one current site, the task
  gets it, inside the creating transaction (history: `site_linked`).
"""

from __future__ import annotations

from piccolo.utils.encoding import dump_json

from server import db
from server.clients.events import SiteSaved
from server.dispatch import geocoding
from server.lib.events import subscribe
from server.tasks.events import TaskCreated
from server.tasks.service import record_event
from server.tasks.tables import Task


@subscribe(SiteSaved)
async def geocode_saved_site(event: SiteSaved) -> None:
    await geocoding.mark_site(
        event.site_id, address_changed=event.address_changed, point_given=event.point_given
    )


# The counterparty's current sites (two are enough to know it is not the only one), and
# the link with its history event in one statement on PostgreSQL (issue 21).
_CURRENT_SITES = "SELECT id, name FROM sites WHERE counterparty = {} AND archived = {} LIMIT 2"
_LINK_SITE = """
WITH linked AS (UPDATE tasks SET site = {} WHERE id = {})
INSERT INTO task_events (task, at, actor, kind, data, channel, internal)
VALUES ({}, {}, {}, 'site_linked', {}::json, {}, true)
"""


@subscribe(TaskCreated)
async def link_only_site(event: TaskCreated) -> None:
    # The event says whether the task was created with a site; nothing links one before.
    if event.counterparty_id is None or event.site_id is not None:
        return
    sites = await db.fetch_rows(_CURRENT_SITES, event.counterparty_id, False)
    if len(sites) != 1:
        return
    site = sites[0]
    data = {"site_id": site["id"], "site": site["name"], "why": "the counterparty's only site"}
    if not db.is_sqlite():
        await db.fetch_rows(
            _LINK_SITE,
            site["id"],
            event.task_id,
            event.task_id,
            event.at,
            event.actor_id,
            dump_json(data),
            event.channel,
        )
        return
    await Task.update({Task.site: site["id"]}).where(Task.id == event.task_id)
    await record_event(
        event.task_id, event.actor_id, "site_linked", event.channel, data, at=event.at
    )
