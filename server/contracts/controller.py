from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, patch, post
from litestar.params import Parameter

from server.contracts import labour, service, tabular
from server.contracts.schemas import (
    ContractIn,
    ContractOut,
    ContractPatch,
    ContractReport,
    ContractStatus,
    LabourReport,
    TaskTime,
    TimeIn,
    TimeOut,
)
from server.lib.actor import Actor
from server.lib.guards import DIRECTORY_WRITERS, EMPLOYEES
from server.lib.ids import Id
from server.tasks import idempotency

From = Annotated[dt.date | None, Parameter(query="from")]
To = Annotated[dt.date | None, Parameter(query="to")]


def _file(body: bytes, name: str, xlsx: bool) -> Response[bytes]:
    return Response(
        body,
        media_type=tabular.XLSX if xlsx else "text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


class ContractsController(Controller):
    """Service contracts (issue 16): employees read, the office writes."""

    path = "/api/contracts"
    tags = ["contracts"]
    guards = [EMPLOYEES]

    @get("/")
    async def list_contracts(
        self, counterparty: Id | None = None, status: ContractStatus | None = None
    ) -> list[ContractOut]:
        return await service.list_contracts(counterparty, status)

    @post("/", guards=[DIRECTORY_WRITERS])
    async def create(self, data: ContractIn) -> ContractOut:
        return await service.create_contract(data)

    @get("/{contract_id:int}")
    async def get_one(self, contract_id: int) -> ContractOut:
        return await service.get_contract(contract_id)

    @patch("/{contract_id:int}", guards=[DIRECTORY_WRITERS])
    async def update(self, contract_id: int, data: ContractPatch) -> ContractOut:
        return await service.update_contract(contract_id, data)

    @get("/{contract_id:int}/report", guards=[DIRECTORY_WRITERS])
    async def report(
        self, contract_id: int, date_from: From = None, date_to: To = None
    ) -> ContractReport:
        """Visits and hours used against included, per month of the period."""
        return await service.contract_report(contract_id, date_from, date_to)

    @get("/report.csv", guards=[DIRECTORY_WRITERS])
    async def report_csv(
        self, counterparty: Id | None = None, date_from: From = None, date_to: To = None
    ) -> Response[bytes]:
        rows = await service.report_rows(counterparty, date_from, date_to)
        return _file(tabular.to_csv(service.REPORT_COLUMNS, rows), "contracts.csv", xlsx=False)

    @get("/report.xlsx", guards=[DIRECTORY_WRITERS])
    async def report_xlsx(
        self, counterparty: Id | None = None, date_from: From = None, date_to: To = None
    ) -> Response[bytes]:
        rows = await service.report_rows(counterparty, date_from, date_to)
        body = tabular.to_xlsx("Contracts", service.REPORT_COLUMNS, rows)
        return _file(body, "contracts.xlsx", xlsx=True)


class LabourController(Controller):
    path = "/api"
    tags = ["labour"]
    guards = [EMPLOYEES]

    @post("/tasks/{task_id:int}/time", status_code=201)
    async def add_time(
        self, task_id: int, data: TimeIn, request: Request[Actor, str, Any]
    ) -> Response[TimeOut]:
        """Time spent on the task (Idempotency-Key: the phone's outbox may send it twice)."""
        return await idempotency.respond_once(
            request, lambda: labour.add_time(request.user, task_id, data), 201
        )

    @get("/tasks/{task_id:int}/time")
    async def task_time(self, task_id: int, request: Request[Actor, str, Any]) -> TaskTime:
        return await labour.task_time(request.user, task_id)

    @get("/labour", guards=[DIRECTORY_WRITERS])
    async def report(self, date_from: From = None, date_to: To = None) -> LabourReport:
        """Totals of the period per engineer, contract, counterparty and task."""
        return await labour.labour_report(date_from, date_to)

    @get("/labour/export.csv", guards=[DIRECTORY_WRITERS])
    async def export_csv(self, date_from: From = None, date_to: To = None) -> Response[bytes]:
        rows = await labour.export_rows(date_from, date_to)
        return _file(tabular.to_csv(labour.EXPORT_COLUMNS, rows), "labour.csv", xlsx=False)

    @get("/labour/export.xlsx", guards=[DIRECTORY_WRITERS])
    async def export_xlsx(self, date_from: From = None, date_to: To = None) -> Response[bytes]:
        rows = await labour.export_rows(date_from, date_to)
        body = tabular.to_xlsx("Labour", labour.EXPORT_COLUMNS, rows)
        return _file(body, "labour.xlsx", xlsx=True)
