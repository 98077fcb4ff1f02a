from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.params import Parameter

from server.lib.actor import Actor
from server.lib.guards import DIRECTORY_WRITERS
from server.reports import service
from server.settings import Settings
from server.tasks.controller import parse_task_filter

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class ReportsController(Controller):
    path = "/api"
    tags = ["reports"]
    guards = [DIRECTORY_WRITERS]

    @get("/dashboard")
    async def dashboard(
        self,
        settings: Settings,
        date_from: Annotated[dt.date | None, Parameter(query="from")] = None,
        date_to: Annotated[dt.date | None, Parameter(query="to")] = None,
    ) -> service.Dashboard:
        """Counts now (open, overdue, in progress, due today, unassigned) in total, per group
        and per engineer; created vs completed per day; time to accept and to complete;
        refusals in the period by reason (R11)."""
        return await service.dashboard(settings.timezone, date_from, date_to)

    @get("/tasks/export.csv")
    async def export_csv(
        self,
        request: Request[Actor, str, Any],
        settings: Settings,
        status: str | None = None,
        template: str | None = None,
        assignee: str | None = None,
        group: str | None = None,
        queue: str | None = None,
        counterparty: str | None = None,
        q: str | None = None,
        overdue: bool | None = None,
        created_from: dt.datetime | None = None,
        created_to: dt.datetime | None = None,
        sort: str | None = None,
        lang: str | None = None,
    ) -> Response[bytes]:
        f = parse_task_filter(
            request.user,
            status,
            template,
            assignee,
            group,
            queue,
            counterparty,
            q,
            200,
            None,
            overdue,
            created_from,
            created_to,
            sort,
        )
        language = service.export_language(lang)
        body = await service.export_csv(request.user, f, settings.timezone, language)
        return Response(
            body,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="tasks.csv"'},
        )

    @get("/tasks/export.xlsx")
    async def export_xlsx(
        self,
        request: Request[Actor, str, Any],
        settings: Settings,
        status: str | None = None,
        template: str | None = None,
        assignee: str | None = None,
        group: str | None = None,
        queue: str | None = None,
        counterparty: str | None = None,
        q: str | None = None,
        overdue: bool | None = None,
        created_from: dt.datetime | None = None,
        created_to: dt.datetime | None = None,
        sort: str | None = None,
        lang: str | None = None,
    ) -> Response[bytes]:
        f = parse_task_filter(
            request.user,
            status,
            template,
            assignee,
            group,
            queue,
            counterparty,
            q,
            200,
            None,
            overdue,
            created_from,
            created_to,
            sort,
        )
        language = service.export_language(lang)
        body = await service.export_xlsx(request.user, f, settings.timezone, language)
        return Response(
            body,
            media_type=XLSX,
            headers={"Content-Disposition": 'attachment; filename="tasks.xlsx"'},
        )
