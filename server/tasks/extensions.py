"""What other domains add to a task without tasks importing them.

Equipment, contracts and checklists (server/assets, server/contracts, server/maintenance)
depend on tasks, never the other way round. Where a task operation must consult them — a
checklist that keeps a task from being done (R8), the equipment and contract shown on a
task — they register a function here at start-up (their subscribers module, imported by
server/subscribers.py), and tasks call whatever is registered.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from typing import Any, NamedTuple

from piccolo.columns import Column

from server.tasks.schemas import TaskOut

# Raises a DomainError (a RuleViolation naming R8) when the task may not be marked done.
DoneCheck = Callable[[int], Awaitable[None]]
# Fills the fields of a single-task read that another domain owns (equipment, contract).
ReadFiller = Callable[[TaskOut], Awaitable[None]]

_done_checks: list[DoneCheck] = []
_read_fillers: list[ReadFiller] = []


class SqlRead(NamedTuple):
    """A single-read filler as one PostgreSQL expression, so a transition can answer with
    the whole task in the statement that changes it. `sql` is a scalar subquery over the
    task row `t` giving json (or NULL); `apply(task, value)` puts the decoded value on the
    task exactly as the filler would."""

    sql: str
    apply: Callable[[TaskOut, Any], None]


class Stamp(NamedTuple):
    column: Column
    entering: str
    unless_from: frozenset[str]


_sql_reads: dict[ReadFiller, SqlRead] = {}
_stamps: list[Stamp] = []


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


def read_in_sql(filler: ReadFiller, sql: str, apply: Callable[[TaskOut, Any], None]) -> None:
    """Register the SQL form of a registered single-read filler (see SqlRead)."""
    _sql_reads[filler] = SqlRead(sql, apply)


def single_read_sql() -> list[SqlRead] | None:
    """Every single-read filler in SQL, or None if one has no SQL form (then run them)."""
    parts = [_sql_reads.get(filler) for filler in _read_fillers]
    return None if None in parts else [p for p in parts if p is not None]


def stamp_once(column: Column, *, entering: str, unless_from: Collection[str] = ()) -> None:
    """Register a column of tasks that another domain sets to the transition's time when
    a task enters `entering` (from any status but `unless_from`), if it is still empty.
    The transition's own UPDATE writes it, so it costs no statement of its own (SLA: the
    reaction ends at accept)."""
    stamp = Stamp(column, entering, frozenset(unless_from))
    if stamp not in _stamps:
        _stamps.append(stamp)


def stamps(from_status: str, to_status: str) -> list[Column]:
    """The stamped columns a move from `from_status` to `to_status` writes."""
    return [
        s.column
        for s in _stamps
        if s.entering == to_status and from_status != to_status and from_status not in s.unless_from
    ]


async def check_done(task_id: int) -> None:
    for check in _done_checks:
        await check(task_id)


async def fill_single_read(task: TaskOut) -> None:
    for filler in _read_fillers:
        await filler(task)
