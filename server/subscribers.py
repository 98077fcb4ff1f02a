"""Who listens to which domain event: imported once at start-up by every process that
changes data (the API, the worker, the CLI, the tests). Importing a subscriber module
registers its handlers; `install()` says the wiring is complete (server/lib/events.py)."""

from __future__ import annotations

from server.assets import subscribers as asset_subscribers
from server.channels import subscribers as channel_subscribers
from server.contracts import subscribers as contract_subscribers
from server.dispatch import subscribers as dispatch_subscribers
from server.feed import subscribers as feed_subscribers
from server.lib import events
from server.maintenance import subscribers as maintenance_subscribers
from server.notifications import subscribers as notification_subscribers
from server.portal import subscribers as portal_subscribers
from server.pricing import subscribers as document_subscribers
from server.sla import subscribers as sla_subscribers
from server.tasks import subscribers as task_subscribers

MODULES = (
    notification_subscribers,
    sla_subscribers,
    document_subscribers,
    task_subscribers,
    channel_subscribers,
    asset_subscribers,
    contract_subscribers,
    maintenance_subscribers,
    feed_subscribers,
    dispatch_subscribers,
    portal_subscribers,
)


def install() -> None:
    events.mark_installed()
