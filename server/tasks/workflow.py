"""The task state machine, declared as data.

Templates are admin-editable rows, so a template's workflow is chosen by its flags:
`has_departure` adds depart/arrive (field visits), `requires_check` sends done work to a
checker (R8). Every action maps the statuses it may start from to the status it leaves.
"""

from __future__ import annotations

from collections.abc import Mapping

from server.tasks.schemas import TemplateOut

OPEN_WORK = ("accepted", "en_route", "in_progress", "waiting_client")
ACTIVE = ("new", *OPEN_WORK)

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
_UNCHECKED = {"done": dict.fromkeys(OPEN_WORK, "completed")}


def transitions_for(template: TemplateOut) -> Mapping[str, Mapping[str, str]]:
    """action -> {from status: to status} for this template."""
    table = dict(_COMMON)
    table.update(_SYSTEM)
    table.update(_DEPARTURE if template.has_departure else _NO_DEPARTURE)
    table.update(_CHECKED if template.requires_check else _UNCHECKED)
    return table


def allowed_actions(template: TemplateOut, status: str) -> list[str]:
    return sorted(
        a
        for a, moves in transitions_for(template).items()
        if status in moves and a not in SYSTEM_ACTIONS
    )
