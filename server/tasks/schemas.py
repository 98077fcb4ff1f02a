from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import msgspec

Id = Annotated[int, msgspec.Meta(ge=1)]
Channel = Literal["ui", "phone", "telegram", "email", "portal"]
Priority = Literal["low", "normal", "high", "urgent"]
# PATCH bodies: a field left out stays as it is; null clears a nullable one.
UNSET = msgspec.UNSET
Unset = msgspec.UnsetType


class TemplateOut(msgspec.Struct):
    id: int
    code: str
    name: str
    default_group_id: int | None
    channels: list[str]
    counterparty_in_title: bool
    requires_check: bool
    requires_completed_works: bool
    allows_completed_on_creation: bool = False
    creator_is_default_assignee: bool = False
    has_departure: bool = False


class TaskIn(msgspec.Struct, forbid_unknown_fields=True):
    title: Annotated[str, msgspec.Meta(max_length=500)]
    # Optional in the type so a missing template gets the R1 message, not a generic one.
    template: Annotated[str, msgspec.Meta(max_length=50)] | None = None
    description: Annotated[str, msgspec.Meta(max_length=20000)] = ""
    counterparty_id: Id | None = None
    site_id: Id | None = None
    assignee_id: Id | None = None
    group_id: Id | None = None
    requester_contact_id: Id | None = None
    status: str | None = None
    completed_works: Annotated[str, msgspec.Meta(max_length=20000)] = ""
    # "phone" records a call handled by staff (R9); other channels have their own intake.
    channel: Literal["ui", "phone"] = "ui"
    priority: Priority = "normal"
    # Equipment of the task's counterparty the work is about (server/assets links it).
    equipment_ids: Annotated[list[Id], msgspec.Meta(max_length=50)] = msgspec.field(
        default_factory=list
    )


class Ref(msgspec.Struct):
    id: int
    name: str


class UserRef(msgspec.Struct):
    id: int
    full_name: str


class SiteRef(msgspec.Struct):
    id: int
    name: str
    address: str
    lat: float | None = None
    lon: float | None = None


class EquipmentRef(msgspec.Struct):
    id: int
    kind: str
    model: str
    serial: str


class ContractRef(msgspec.Struct):
    id: int
    number: str


class TaskRating(msgspec.Struct):
    """CSAT: the client's score of the finished work, 1 (bad) to 5 (excellent)."""

    score: int
    comment: str
    rated_at: dt.datetime
    by: str


class Requester(msgspec.Struct):
    kind: Literal["user", "contact"]
    id: int
    name: str


class TaskOut(msgspec.Struct):
    id: int
    number: int
    template: str
    title: str
    description: str
    status: str
    counterparty: Ref | None
    site: SiteRef | None
    group: Ref | None
    assignee: UserRef | None
    requester: Requester | None
    completed_works: str
    channel: str
    created_at: dt.datetime
    updated_at: dt.datetime
    accepted_at: dt.datetime | None
    completed_at: dt.datetime | None
    version: int
    departed_at: dt.datetime | None = None
    arrived_at: dt.datetime | None = None
    done_at: dt.datetime | None = None
    checkin_distance_m: float | None = None
    checkin_far: bool = False
    # Set when checkin_far: the warning the PWA shows instead of a plain "on site" (R7).
    checkin_warning: str | None = None
    postponed_until: dt.datetime | None = None
    call_back: bool = False
    priority: str = "normal"
    due_reaction_at: dt.datetime | None = None
    due_resolution_at: dt.datetime | None = None
    overdue: bool = False
    # R6: a follow-up names the completed task it continues; follow_ups lists the tasks
    # continuing this one, on single-task reads only ([] in lists: one query there).
    parent_task_id: int | None = None
    follow_ups: list[int] = msgspec.field(default_factory=list)
    # What the caller may do with the task now (accept, depart, done, approve…): the PWA
    # shows its buttons from this instead of keeping a copy of the state machine.
    actions: list[str] = msgspec.field(default_factory=list)
    # Filled on single-task reads (GET /api/tasks/{id} and the answers of actions); the
    # list endpoint leaves it empty to keep the hot path at one query.
    watchers: list[UserRef] = msgspec.field(default_factory=list)
    # Single-task reads only, filled by server/assets and server/contracts (tasks.extensions):
    # the equipment worked on, the service contract the task was linked to at creation, and
    # whether it falls outside the contract (none, or its monthly allowance used up).
    equipment: list[EquipmentRef] = msgspec.field(default_factory=list)
    contract: ContractRef | None = None
    outside_contract: bool = False
    # The client's rating of the work (server/portal), on single-task reads; null until rated.
    rating: TaskRating | None = None


class TaskPage(msgspec.Struct):
    items: list[TaskOut]
    next_cursor: str | None


class EventOut(msgspec.Struct):
    at: dt.datetime
    actor: UserRef | None
    kind: str
    data: dict[str, Any]
    channel: str


class TaskFilter(msgspec.Struct, kw_only=True):
    statuses: list[str] | None = None
    template: str | None = None
    assignee_id: int | None = None
    group_id: int | None = None
    queue_mine: bool = False
    counterparty_id: int | None = None
    q: str | None = None
    limit: int = 50
    cursor: int | None = None
    # GET /api/tasks?overdue=true|false&created_from=&created_to=&sort=-id|due|priority
    overdue: bool | None = None
    created_from: dt.datetime | None = None
    created_to: dt.datetime | None = None
    sort: str = "-id"


class CommentAuthor(msgspec.Struct):
    kind: Literal["user", "contact"]
    id: int
    name: str


class CommentOut(msgspec.Struct):
    id: int
    task_id: int
    body: str
    public: bool
    author: CommentAuthor | None
    channel: str
    mentions: list[int]
    created_at: dt.datetime


Text = Annotated[str, msgspec.Meta(max_length=20000)]


class CommentIn(msgspec.Struct, forbid_unknown_fields=True):
    body: Text
    public: bool = False
    # "phone": a note of a call with the client (R10 counts it as an answer to them).
    channel: Literal["ui", "phone"] = "ui"


class ArriveIn(msgspec.Struct, forbid_unknown_fields=True):
    lat: Annotated[float, msgspec.Meta(ge=-90, le=90)] | None = None
    lon: Annotated[float, msgspec.Meta(ge=-180, le=180)] | None = None


class DoneIn(msgspec.Struct, forbid_unknown_fields=True):
    completed_works: Text | None = None


class ReasonIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: Text


class RefuseIn(msgspec.Struct, forbid_unknown_fields=True):
    """R11: a reason from GET /api/refusal-reasons, in words, or both (one is required)."""

    reason_id: Id | None = None
    reason: Text | None = None


class RefusalReasonIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(max_length=150)]


class RefusalReasonPatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: Annotated[str, msgspec.Meta(max_length=150)] | None = None
    active: bool | None = None


class RefusalReasonOut(msgspec.Struct):
    id: int
    name: str
    active: bool


class PostponeIn(msgspec.Struct, forbid_unknown_fields=True):
    until: dt.datetime
    reason: Text | None = None


class RedirectIn(msgspec.Struct, forbid_unknown_fields=True):
    user_id: Id
    call_back: bool = False


class AssignIn(msgspec.Struct, forbid_unknown_fields=True):
    user_id: Id


class TaskPatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """PATCH /api/tasks/{id}: the fields to change (server/tasks/editing.py)."""

    title: Annotated[str, msgspec.Meta(max_length=500)] | Unset = UNSET
    description: Text | Unset = UNSET
    counterparty_id: Id | Unset | None = UNSET
    site_id: Id | Unset | None = UNSET
    requester_contact_id: Id | Unset | None = UNSET
    priority: Priority | Unset = UNSET
    # Moves a task nobody accepted yet to another queue.
    group_id: Id | Unset = UNSET
    due_resolution_at: dt.datetime | Unset | None = UNSET


class TemplatePatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """PATCH /api/templates/{code} (admins): applies to tasks created afterwards."""

    name: Annotated[str, msgspec.Meta(max_length=150)] | Unset = UNSET
    default_group_id: Id | Unset = UNSET
    channels: list[Channel] | Unset = UNSET
    counterparty_in_title: bool | Unset = UNSET
    requires_check: bool | Unset = UNSET
    requires_completed_works: bool | Unset = UNSET
    allows_completed_on_creation: bool | Unset = UNSET
    creator_is_default_assignee: bool | Unset = UNSET
    has_departure: bool | Unset = UNSET


class WatcherIn(msgspec.Struct, forbid_unknown_fields=True):
    user_id: Id
