"""The task state machine, declared as data.

Templates are admin-editable rows, so a template's workflow is chosen by its flags:
`has_departure` adds depart/arrive (field visits), `requires_check` sends done work to a
checker (R8). Every action maps the statuses it may start from to the status it leaves.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from server.lib.actor import Actor
from server.tasks.statuses import ACTIVE, OPEN_WORK

_COMMON: dict[str, dict[str, str]] = {
    "accept": {"new": "accepted"},
    "assign": {"new": "accepted"},
    "release": dict.fromkeys(OPEN_WORK, "new"),
    "postpone": dict.fromkeys(ACTIVE, "postponed"),
    # resume returns to the status saved at postpone; "previous" stands for it here.
    "resume": {"postponed": "previous"},
    "redirect": dict.fromkeys(ACTIVE, "accepted"),
    "refuse": dict.fromkeys((*ACTIVE, "postponed"), "cancelled"),
}
# Moved by automations (R10) and sweeps, never by a person's request.
_SYSTEM = {
    "wait_client": {"accepted": "waiting_client", "in_progress": "waiting_client"},
    "client_replied": {"waiting_client": "in_progress"},
}
SYSTEM_ACTIONS = frozenset({"resume", "autocomplete", *_SYSTEM})
_DEPARTURE = {
    "depart": {"accepted": "en_route", "in_progress": "en_route"},
    "arrive": {"accepted": "in_progress", "en_route": "in_progress"},
}
_NO_DEPARTURE = {"start": {"accepted": "in_progress"}}
_CHECKED = {
    "done": {"in_progress": "done"},
    "approve": {"done": "completed"},
    "return": {"done": "in_progress"},
    "autocomplete": {"done": "completed"},
}
_UNCHECKED: dict[str, dict[str, str]] = {"done": dict.fromkeys(OPEN_WORK, "completed")}


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
    return sorted(
        a
        for a, moves in transitions_for(template).items()
        if status in moves and a not in SYSTEM_ACTIONS
    )


# Who may start each action, besides the status allowing it (the services check the same
# and remain the judge: a stale button still gets a 409 or 403 with the reason).
_HOLDER_ONLY = frozenset({"depart", "arrive", "start"})
_HOLDER_OR_DISPATCHER = frozenset({"release", "postpone", "redirect", "refuse"})
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
    holder = assignee_id == actor.id
    dispatcher = actor.is_dispatcher
    in_queue = group_id is None or group_id in actor.group_ids

    def may(action: str) -> bool:
        if action == "accept":
            return dispatcher or in_queue
        if action == "assign":
            return dispatcher
        if action in _HOLDER_ONLY:
            return holder
        if action == "done":
            return holder or (dispatcher and not template.has_departure)
        if action in _CHECKER:
            return actor.has_role("checker", "admin") and (action == "return" or not holder)
        if action in _HOLDER_OR_DISPATCHER:
            if dispatcher or holder:
                return True
            return assignee_id is None and in_queue
        return False

    return [a for a in allowed_actions(template, status) if may(a)]
