from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, patch, post, put
from litestar.params import Parameter

from server.lib.actor import Actor
from server.lib.errors import InvalidInput
from server.lib.guards import ADMIN, DIRECTORY_WRITERS, EMPLOYEES, PUBLIC
from server.lib.ids import MAX_ID, Id
from server.maintenance import checklists, icalendar_export, service
from server.maintenance.schemas import (
    CalendarLink,
    ChecklistItemOut,
    ChecklistValueIn,
    Occurrences,
    PlanIn,
    PlanOut,
    PlanPatch,
    SweepOut,
    TaskChecklist,
    TemplateChecklistIn,
    TemplateChecklistOut,
)
from server.tasks import idempotency

From = Annotated[dt.date | None, Parameter(query="from")]
To = Annotated[dt.date | None, Parameter(query="to")]
ICS = "text/calendar; charset=utf-8"


def _ics(body: bytes, name: str) -> Response[bytes]:
    return Response(
        body, media_type=ICS, headers={"Content-Disposition": f'inline; filename="{name}"'}
    )


def _user_param(actor: Actor, value: str | None) -> int | None:
    if value in (None, ""):
        return None
    if value == "me":
        return actor.id
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= MAX_ID:
        raise InvalidInput("maintenance.assignee_must_me_user", value=value)
    return int(value)


class MaintenancePlansController(Controller):
    """Planned maintenance (issue 16): employees read, the office writes."""

    path = "/api/maintenance-plans"
    tags = ["maintenance"]
    guards = [EMPLOYEES]

    @get("/")
    async def list_plans(
        self,
        request: Request[Actor, str, Any],
        counterparty: Id | None = None,
        equipment: Id | None = None,
        assignee: str | None = None,
        active: bool | None = None,
    ) -> list[PlanOut]:
        return await service.list_plans(
            counterparty, equipment, _user_param(request.user, assignee), active
        )

    @post("/", guards=[DIRECTORY_WRITERS])
    async def create(self, data: PlanIn, request: Request[Actor, str, Any]) -> PlanOut:
        return await service.create_plan(request.user, data)

    @get("/{plan_id:int}")
    async def get_one(self, plan_id: int) -> PlanOut:
        return await service.get_plan(plan_id)

    @patch("/{plan_id:int}", guards=[DIRECTORY_WRITERS])
    async def update(self, plan_id: int, data: PlanPatch) -> PlanOut:
        return await service.update_plan(plan_id, data)

    @get("/{plan_id:int}/occurrences")
    async def occurrences(
        self, plan_id: int, date_from: From = None, date_to: To = None
    ) -> Occurrences:
        """Visits whose day is in [from, to] with their task (null until created)."""
        return await service.occurrences(plan_id, date_from, date_to)

    @get("/{plan_id:int}/calendar.ics")
    async def plan_ics(
        self, plan_id: int, date_from: From = None, date_to: To = None
    ) -> Response[bytes]:
        plan = await service.get_plan(plan_id)
        body = await icalendar_export.plans_calendar([plan], date_from, date_to, plan.title)
        return _ics(body, f"plan-{plan_id}.ics")

    @post("/sweep", guards=[ADMIN], status_code=200)
    async def sweep(self) -> SweepOut:
        """Create the due tasks now (what the worker does every few minutes)."""
        return await service.run_maintenance_sweep()


class MaintenanceCalendarController(Controller):
    """The subscription a phone calendar polls: no session, a signed link instead."""

    path = "/api/maintenance-plans/calendar.ics"
    tags = ["maintenance"]

    @get("/", opt=PUBLIC)
    async def subscribed(
        self, user: Id, sig: str, date_from: From = None, date_to: To = None
    ) -> Response[bytes]:
        icalendar_export.require_signature(user, sig)
        plans = await service.list_plans(assignee_id=user, active=True)
        body = await icalendar_export.plans_calendar(plans, date_from, date_to, "Naryad")
        return _ics(body, "maintenance.ics")


class ChecklistController(Controller):
    path = "/api"
    tags = ["checklists"]
    guards = [EMPLOYEES]

    @get("/tasks/{task_id:int}/checklist")
    async def task_checklist(
        self, task_id: int, request: Request[Actor, str, Any]
    ) -> TaskChecklist:
        return await checklists.task_checklist(request.user, task_id)

    @patch("/tasks/{task_id:int}/checklist/{item_id:int}")
    async def set_item(
        self, task_id: int, item_id: int, data: ChecklistValueIn, request: Request[Actor, str, Any]
    ) -> Response[ChecklistItemOut]:
        """{"value": …} in the item's kind; null clears it (Idempotency-Key honoured)."""
        return await idempotency.respond_once(
            request, lambda: checklists.set_item(request.user, task_id, item_id, data.value)
        )

    @get("/templates/{code:str}/checklist")
    async def template_checklist(self, code: str) -> TemplateChecklistOut:
        return await checklists.template_checklist(code)

    @put("/templates/{code:str}/checklist", guards=[ADMIN])
    async def set_template_checklist(
        self, code: str, data: TemplateChecklistIn
    ) -> TemplateChecklistOut:
        """Replaces the items; tasks created afterwards carry them."""
        return await checklists.set_template_checklist(code, data.items)

    @get("/me/maintenance-calendar")
    async def calendar_link(self, request: Request[Actor, str, Any]) -> CalendarLink:
        """A link a phone calendar subscribes to: the plans assigned to the caller."""
        return CalendarLink(url=icalendar_export.subscription_url(request.user.id))
