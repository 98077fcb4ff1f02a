from __future__ import annotations

from litestar import Controller, get, patch, post

from server.lib.guards import ADMIN, EMPLOYEES
from server.tasks import refusals
from server.tasks.schemas import RefusalReasonIn, RefusalReasonOut, RefusalReasonPatch


class RefusalReasonsController(Controller):
    """R11: the reasons a task may be refused for; admins keep the list, employees read it."""

    path = "/api/refusal-reasons"
    # Litestar declares these as class-level lists (as in every controller.py).
    tags = ["tasks"]  # noqa: RUF012
    guards = [EMPLOYEES]  # noqa: RUF012

    @get("/")
    async def list_reasons(self, active: bool | None = None) -> list[RefusalReasonOut]:
        return await refusals.list_reasons(active)

    @post("/", guards=[ADMIN], status_code=201)
    async def create_reason(self, data: RefusalReasonIn) -> RefusalReasonOut:
        return await refusals.create_reason(data)

    @patch("/{reason_id:int}", guards=[ADMIN])
    async def update_reason(self, reason_id: int, data: RefusalReasonPatch) -> RefusalReasonOut:
        return await refusals.update_reason(reason_id, data)
