"""The task state machine, declared as data.

Templates are admin-editable rows, so a template's workflow is chosen by its flags:
`has_departure` adds depart/arrive (field visits), `requires_check` sends done work to a
checker (R8). Every action maps the statuses it may start from to the status it leaves.

Who may work a task (R7, issue #12): a task with a departure goes on site, so only to an
engineer; any other task to a member of its group (its queue), or to an engineer, the
company's general workforce. Accept, assign, redirect and creation with an assignee all
ask `may_work`.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping
from typing import NamedTuple, Protocol

from server.lib.actor import Actor, Role
from server.tasks.statuses import ACTIVE, OPEN_WORK

_COMMON: dict[str, dict[str, str]] = {
    "accept": {"new": "accepted"},
    "assign": {"new": "accepted"},
    "release": dict.fromkeys(OPEN_WORK, "new"),
    "postpone": dict.fromkeys(ACTIVE, "postponed"),
    # resume (early by a person, or by itself at `until`) returns to the status saved at
    # postpone; "previous" stands for it here.
    "resume": {"postponed": "previous"},
    "redirect": dict.fromkeys(ACTIVE, "accepted"),
    "refuse": dict.fromkeys((*ACTIVE, "postponed"), "cancelled"),
}
# Moved by automations (R10) and sweeps, never by a person's request.
_SYSTEM = {
    "wait_client": {"accepted": "waiting_client", "in_progress": "waiting_client"},
    "client_replied": {"waiting_client": "in_progress"},
}
SYSTEM_ACTIONS = frozenset({"autocomplete", *_SYSTEM})
# R7: one way on site: accept, depart, arrive. No check-in without a departure, and no
# departure once on site (a visit returned by its checker is finished where it is).
_DEPARTURE = {
    "depart": {"accepted": "en_route"},
    "arrive": {"en_route": "in_progress"},
}
_NO_DEPARTURE = {"start": {"accepted": "in_progress"}}
# R8: the checker is never bypassed: work that waits for a check is approved or returned
# by a person, never completed by a timer (R10 escalates it instead).
_CHECKED = {
    "done": {"in_progress": "done"},
    "approve": {"done": "completed"},
    "return": {"done": "in_progress"},
}
_UNCHECKED: dict[str, dict[str, str]] = {
    "done": dict.fromkeys(OPEN_WORK, "completed"),
    # R10 done_autocomplete: only a task of a template without a check can sit in done
    # (it waited for a check its template no longer asks for).
    "autocomplete": {"done": "completed"},
}


class WorkflowFlags(Protocol):
    """What of a template decides its workflow (TemplateOut and the task list rows)."""

    @property
    def has_departure(self) -> bool: ...

    @property
    def requires_check(self) -> bool: ...


def transitions_for(template: WorkflowFlags) -> Mapping[str, Mapping[str, str]]:
    """action -> {from status: to status} for this template."""
    table = dict(_COMMON)
    table.update(_SYSTEM)
    table.update(_DEPARTURE if template.has_departure else _NO_DEPARTURE)
    table.update(_CHECKED if template.requires_check else _UNCHECKED)
    return table


def allowed_actions(template: WorkflowFlags, status: str) -> list[str]:
    return list(_allowed(template.has_departure, template.requires_check, status))


class _Flags(NamedTuple):
    has_departure: bool
    requires_check: bool


@functools.cache
def _allowed(has_departure: bool, requires_check: bool, status: str) -> tuple[str, ...]:
    table = transitions_for(_Flags(has_departure, requires_check))
    return tuple(
        sorted(a for a, moves in table.items() if status in moves and a not in SYSTEM_ACTIONS)
    )


def may_work(
    template: WorkflowFlags,
    task_group_id: int | None,
    roles: Collection[str],
    group_ids: Collection[int],
) -> bool:
    """R7: may someone with `roles` in `group_ids` hold a task of `template` in its group?"""
    if Role.ENGINEER in roles:
        return True
    if template.has_departure:
        return False  # a field visit goes on site: engineers only
    return task_group_id is None or task_group_id in group_ids


# Who may start each action, besides the status allowing it (the services check the same
# and remain the judge: a stale button still gets a 409 or 403 with the reason).
_HOLDER_ONLY = frozenset({"depart", "arrive", "start"})
_HOLDER_OR_DISPATCHER = frozenset({"release", "postpone", "resume", "redirect", "refuse"})
_CHECKER = frozenset({"approve", "return"})


def actions_for(
    actor: Actor,
    template: WorkflowFlags,
    status: str,
    *,
    assignee_id: int | None,
    group_id: int | None,
) -> list[str]:
    """The actions `actor` may take on a task in `status` now."""
    if actor.is_client_only:
        return []
    return list(
        _actions_for(
            actor.roles,
            actor.is_dispatcher,
            _Flags(template.has_departure, template.requires_check),
            status,
            holder=assignee_id == actor.id,
            unassigned=assignee_id is None,
            in_queue=group_id is None or group_id in actor.group_ids,
        )
    )


@functools.lru_cache(maxsize=4096)
def _actions_for(
    roles: frozenset[str],
    dispatcher: bool,
    template: _Flags,
    status: str,
    *,
    holder: bool,
    unassigned: bool,
    in_queue: bool,
) -> tuple[str, ...]:
    """actions_for as a function of what decides it (a list page asks it for every row)."""

    def may(action: str) -> bool:
        if action == "accept":
            # may_work with the task's group known to be in the queue or not
            return (dispatcher or in_queue) and (
                Role.ENGINEER in roles or (not template.has_departure and in_queue)
            )
        if action == "assign":
            return dispatcher
        if action in _HOLDER_ONLY:
            return holder
        if action == "done":
            return holder or (dispatcher and not template.has_departure)
        if action in _CHECKER:
            return bool({"checker", "admin"} & roles) and (action == "return" or not holder)
        if action in _HOLDER_OR_DISPATCHER:
            if dispatcher or holder:
                return True
            return unassigned and in_queue
        return False

    return tuple(
        a for a in _allowed(template.has_departure, template.requires_check, status) if may(a)
    )
