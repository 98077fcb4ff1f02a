"""Contracts follow tasks: a new task is linked to its counterparty's contract in its
creating transaction; SLA takes the contract's rule (sla.register_rule_source); single-task
reads show the contract (tasks.extensions)."""

from __future__ import annotations

from server.contracts import service
from server.lib.events import subscribe
from server.sla import service as sla
from server.tasks import extensions
from server.tasks.events import TaskCreated

sla.register_rule_source(service.contract_rule)
extensions.on_single_read(service.fill_task)
extensions.read_in_sql(service.fill_task, service.TASK_CONTRACT_SQL, service.apply_task_contract)


@subscribe(TaskCreated)
async def link_contract(event: TaskCreated) -> None:
    await service.link_on_creation(
        event.task_id, event.counterparty_id, event.at, event.has_departure
    )
