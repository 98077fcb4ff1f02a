"""What other domains add to a task without tasks importing them.

Equipment, contracts and checklists (server/assets, server/contracts, server/maintenance)
depend on tasks, never the other way round. Where a task operation must consult them — a
checklist that keeps a task from being done (R8), the equipment and contract shown on a
task — they register a function here at start-up (their subscribers module, imported by
server/subscribers.py), and tasks call whatever is registered.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from server.tasks.schemas import TaskOut

# Raises a DomainError (a RuleViolation naming R8) when the task may not be marked done.
DoneCheck = Callable[[int], Awaitable[None]]
# Fills the fields of a single-task read that another domain owns (equipment, contract).
ReadFiller = Callable[[TaskOut], Awaitable[None]]

_done_checks: list[DoneCheck] = []
_read_fillers: list[ReadFiller] = []


def before_done(check: DoneCheck) -> DoneCheck:
    """Register `check(task_id)`, run before a task is marked done."""
    if check not in _done_checks:
        _done_checks.append(check)
    return check


def on_single_read(filler: ReadFiller) -> ReadFiller:
    """Register `filler(task)`, run on single-task reads (not on lists: one query there)."""
    if filler not in _read_fillers:
        _read_fillers.append(filler)
    return filler


async def check_done(task_id: int) -> None:
    for check in _done_checks:
        await check(task_id)


async def fill_single_read(task: TaskOut) -> None:
    for filler in _read_fillers:
        await filler(task)
