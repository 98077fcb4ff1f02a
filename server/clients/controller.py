from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, patch, post

from server.clients import editing, service
from server.clients.schemas import (
    ContactIn,
    ContactMergeIn,
    ContactOut,
    ContactPatch,
    CounterpartyIn,
    CounterpartyOut,
    CounterpartyPatch,
    SiteIn,
    SiteOut,
    SitePatch,
)
from server.lib.actor import Actor
from server.lib.archived import archived_filter
from server.lib.guards import DIRECTORY_WRITERS, EMPLOYEES


class ClientsController(Controller):
    """The directory of clients. Lists show current rows (the pickers); `?archived=true`
    shows archived ones, `?archived=all` both."""

    path = "/api"
    tags = ["directory"]

    @post("/counterparties", guards=[DIRECTORY_WRITERS])
    async def create_counterparty(self, data: CounterpartyIn) -> CounterpartyOut:
        return await service.create_counterparty(data)

    @get("/counterparties", guards=[EMPLOYEES])
    async def list_counterparties(
        self, q: str | None = None, archived: str = "false"
    ) -> list[CounterpartyOut]:
        return await service.list_counterparties(q, archived=archived_filter(archived))

    @get("/counterparties/{counterparty_id:int}", guards=[EMPLOYEES])
    async def get_counterparty(self, counterparty_id: int) -> CounterpartyOut:
        return await service.get_counterparty(counterparty_id)

    @patch("/counterparties/{counterparty_id:int}", guards=[DIRECTORY_WRITERS])
    async def update_counterparty(
        self, counterparty_id: int, data: CounterpartyPatch
    ) -> CounterpartyOut:
        """Change fields (R2 reads new names at once), or archive with {"archived": true}."""
        return await editing.update_counterparty(counterparty_id, data)

    @get("/counterparties/match", guards=[EMPLOYEES])
    async def match_title(self, title: str) -> service.CounterpartyMatch | None:
        """The counterparty R2 would link for this title (the PWA's live hint)."""
        return await service.find_counterparty_in_title(title)

    @post("/contacts", guards=[DIRECTORY_WRITERS])
    async def create_contact(self, data: ContactIn) -> ContactOut:
        return await service.create_contact(data)

    @get("/contacts", guards=[EMPLOYEES])
    async def list_contacts(
        self, counterparty: int | None = None, archived: str = "false"
    ) -> list[ContactOut]:
        return await service.list_contacts(counterparty, archived=archived_filter(archived))

    @patch("/contacts/{contact_id:int}", guards=[DIRECTORY_WRITERS])
    async def update_contact(self, contact_id: int, data: ContactPatch) -> ContactOut:
        """Change fields; counterparty_id is where the contact's next mail lands."""
        return await editing.update_contact(contact_id, data)

    @post("/contacts/{contact_id:int}/merge", guards=[DIRECTORY_WRITERS], status_code=200)
    async def merge_contact(
        self, contact_id: int, data: ContactMergeIn, request: Request[Actor, str, Any]
    ) -> ContactOut:
        """Merge a duplicate into `into_id`; returns the survivor."""
        return await editing.merge_contacts(request.user, contact_id, data.into_id)

    @post("/sites", guards=[DIRECTORY_WRITERS])
    async def create_site(self, data: SiteIn) -> SiteOut:
        return await service.create_site(data)

    @get("/sites", guards=[EMPLOYEES])
    async def list_sites(
        self, counterparty: int | None = None, archived: str = "false"
    ) -> list[SiteOut]:
        return await service.list_sites(counterparty, archived=archived_filter(archived))

    @patch("/sites/{site_id:int}", guards=[DIRECTORY_WRITERS])
    async def update_site(self, site_id: int, data: SitePatch) -> SiteOut:
        return await editing.update_site(site_id, data)
