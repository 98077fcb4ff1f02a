"""What dispatch does when the directory or tasks change.

- SiteSaved: the site's geocode status follows (pending and a lookup after the commit,
  manual when its point was set by hand or no geocoder is configured).
- TaskCreated without a site: when the counterparty has exactly one current site, the task
  gets it, inside the creating transaction (history: `site_linked`).
"""

from __future__ import annotations

from server.clients.events import SiteSaved
from server.clients.tables import Site
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


@subscribe(TaskCreated)
async def link_only_site(event: TaskCreated) -> None:
    if event.counterparty_id is None:
        return
    task = await Task.select(Task.site).where(Task.id == event.task_id).first()
    if task is None or task["site"] is not None:
        return
    sites = await (
        Site.select(Site.id, Site.name)
        .where((Site.counterparty == event.counterparty_id) & Site.archived.eq(False))
        .limit(2)
    )
    if len(sites) != 1:
        return
    site = sites[0]
    await Task.update({Task.site: site["id"]}).where(Task.id == event.task_id)
    await record_event(
        event.task_id,
        event.actor_id,
        "site_linked",
        event.channel,
        {"site_id": site["id"], "site": site["name"], "why": "the counterparty's only site"},
        at=event.at,
    )
