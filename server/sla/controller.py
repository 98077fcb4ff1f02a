from __future__ import annotations

import datetime as dt

from litestar import Controller, get, patch, post, put

from server.lib.guards import ADMIN, DIRECTORY_WRITERS
from server.sla import admin, service
from server.sla.schemas import (
    AutomationOut,
    AutomationPatch,
    CalendarDayIn,
    CalendarIn,
    CalendarOut,
    FiredOut,
    RuleIn,
    RuleOut,
)


class SlaController(Controller):
    path = "/api/sla"
    tags = ["sla"]
    guards = [DIRECTORY_WRITERS]

    @get("/calendars")
    async def list_calendars(self) -> list[CalendarOut]:
        return await admin.list_calendars()

    @post("/calendars", guards=[ADMIN])
    async def create_calendar(self, data: CalendarIn) -> CalendarOut:
        return await admin.create_calendar(data)

    @put("/calendars/{calendar_id:int}/days", guards=[ADMIN])
    async def set_day(self, calendar_id: int, data: CalendarDayIn) -> CalendarOut:
        return await admin.set_calendar_day(calendar_id, data)

    @get("/rules")
    async def list_rules(self) -> list[RuleOut]:
        return await admin.list_rules()

    @post("/rules", guards=[ADMIN])
    async def create_rule(self, data: RuleIn) -> RuleOut:
        return await admin.create_rule(data)

    @post("/rules/{rule_id:int}/activate", guards=[ADMIN], status_code=200)
    async def activate(self, rule_id: int) -> RuleOut:
        return await admin.set_rule_active(rule_id, True)

    @post("/rules/{rule_id:int}/deactivate", guards=[ADMIN], status_code=200)
    async def deactivate(self, rule_id: int) -> RuleOut:
        return await admin.set_rule_active(rule_id, False)

    @get("/automations")
    async def list_automations(self, template: str | None = None) -> list[AutomationOut]:
        return await admin.list_automations(template)

    @patch("/automations/{automation_id:int}", guards=[ADMIN])
    async def update_automation(self, automation_id: int, data: AutomationPatch) -> AutomationOut:
        return await admin.update_automation(automation_id, data)

    @post("/automations/restore-defaults", guards=[ADMIN], status_code=204)
    async def restore(self) -> None:
        await admin.restore_default_automations()

    @get("/escalations")
    async def escalations(self, since: dt.datetime | None = None) -> list[FiredOut]:
        """The manager's workspace: what the automations raised, newest first."""
        return await admin.list_fired(since)

    @post("/sweep", guards=[ADMIN], status_code=200)
    async def sweep(self) -> service.SweepReport:
        """Run the sweep now (it also runs every minute in the worker)."""
        return await service.run_sla_sweep()
