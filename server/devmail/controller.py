from __future__ import annotations

from litestar import Controller, get

from server.devmail import service
from server.lib.guards import ADMIN
from server.settings import Settings


class DevMailController(Controller):
    path = "/api/dev/mail"
    tags = ["dev"]
    guards = [ADMIN]

    @get("/")
    async def listing(self, settings: Settings, limit: int = 100) -> service.DevMailPage:
        """Mail the demo caught instead of sending (no NARYAD_SMTP_HOST, catcher on);
        `enabled: false` and nothing otherwise."""
        return await service.listing(settings, limit)

    @get("/{mail_id:int}")
    async def one(self, settings: Settings, mail_id: int) -> service.DevMailOut:
        return await service.one(settings, mail_id)
