from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, patch, post, put

from server.assets import imports, service
from server.assets.schemas import (
    EquipmentFilter,
    EquipmentIn,
    EquipmentOut,
    EquipmentPage,
    EquipmentPatch,
    ImportIn,
    ImportReport,
    KindIn,
    KindOut,
    TaskEquipmentIn,
)
from server.lib.actor import Actor
from server.lib.archived import archived_filter
from server.lib.guards import ADMIN, DIRECTORY_WRITERS, EMPLOYEES
from server.lib.ids import Id
from server.tasks import idempotency
from server.tasks.schemas import TaskOut


class EquipmentController(Controller):
    """The equipment registry (issue 16): employees read, the office writes, admins keep
    the list of kinds."""

    path = "/api/equipment"
    tags = ["equipment"]
    guards = [EMPLOYEES]

    @get("/kinds")
    async def list_kinds(self) -> list[KindOut]:
        return await service.list_kinds()

    @post("/kinds", guards=[ADMIN])
    async def create_kind(self, data: KindIn) -> KindOut:
        return await service.create_kind(data)

    @get("/")
    async def search(
        self,
        q: str | None = None,
        counterparty: Id | None = None,
        site: Id | None = None,
        kind: str | None = None,
        archived: str = "false",
        limit: int = 50,
        cursor: Id | None = None,
    ) -> EquipmentPage:
        """By serial or model (any part, any case), counterparty, site and kind."""
        return await service.search_equipment(
            EquipmentFilter(
                q=q,
                counterparty_id=counterparty,
                site_id=site,
                kind=kind or None,
                archived=archived_filter(archived),
                limit=limit,
                cursor=cursor,
            )
        )

    @post("/", guards=[DIRECTORY_WRITERS])
    async def create(self, data: EquipmentIn) -> EquipmentOut:
        return await service.create_equipment(data)

    @get("/{equipment_id:int}")
    async def get_one(self, equipment_id: int) -> EquipmentOut:
        """With its task history (`tasks`, newest first)."""
        return await service.get_equipment(equipment_id)

    @patch("/{equipment_id:int}", guards=[DIRECTORY_WRITERS])
    async def update(self, equipment_id: int, data: EquipmentPatch) -> EquipmentOut:
        """Change fields, or archive with {"archived": true}."""
        return await service.update_equipment(equipment_id, data)

    @post("/import", guards=[DIRECTORY_WRITERS], status_code=200)
    async def import_file(self, data: ImportIn) -> ImportReport:
        """A CSV/XLSX file: all rows imported, or none (422 with extra.report)."""
        return await imports.import_equipment(data)


class TaskEquipmentController(Controller):
    path = "/api/tasks/{task_id:int}/equipment"
    tags = ["equipment"]
    guards = [EMPLOYEES]

    @put("/")
    async def set_equipment(
        self, task_id: int, data: TaskEquipmentIn, request: Request[Actor, str, Any]
    ) -> Response[TaskOut]:
        """The task's equipment becomes exactly `equipment_ids` (history: equipment_changed)."""
        return await idempotency.respond_once(
            request, lambda: service.set_task_equipment(request.user, task_id, data.equipment_ids)
        )
