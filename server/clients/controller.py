from __future__ import annotations

from litestar import Controller, get, post

from server.clients import service
from server.clients.schemas import (
    ContactIn,
    ContactOut,
    CounterpartyIn,
    CounterpartyOut,
    SiteIn,
    SiteOut,
)
from server.lib.guards import DIRECTORY_WRITERS, EMPLOYEES


class ClientsController(Controller):
    path = "/api"
    tags = ["directory"]

    @post("/counterparties", guards=[DIRECTORY_WRITERS])
    async def create_counterparty(self, data: CounterpartyIn) -> CounterpartyOut:
        return await service.create_counterparty(data)

    @get("/counterparties", guards=[EMPLOYEES])
    async def list_counterparties(self, q: str | None = None) -> list[CounterpartyOut]:
        return await service.list_counterparties(q)

    @get("/counterparties/{counterparty_id:int}", guards=[EMPLOYEES])
    async def get_counterparty(self, counterparty_id: int) -> CounterpartyOut:
        return await service.get_counterparty(counterparty_id)

    @get("/counterparties/match", guards=[EMPLOYEES])
    async def match_title(self, title: str) -> service.CounterpartyMatch | None:
        """The counterparty R2 would link for this title (the PWA's live hint)."""
        return await service.find_counterparty_in_title(title)

    @post("/contacts", guards=[DIRECTORY_WRITERS])
    async def create_contact(self, data: ContactIn) -> ContactOut:
        return await service.create_contact(data)

    @get("/contacts", guards=[EMPLOYEES])
    async def list_contacts(self, counterparty: int | None = None) -> list[ContactOut]:
        return await service.list_contacts(counterparty)

    @post("/sites", guards=[DIRECTORY_WRITERS])
    async def create_site(self, data: SiteIn) -> SiteOut:
        return await service.create_site(data)

    @get("/sites", guards=[EMPLOYEES])
    async def list_sites(self, counterparty: int | None = None) -> list[SiteOut]:
        return await service.list_sites(counterparty)
