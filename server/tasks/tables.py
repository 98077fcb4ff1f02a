from piccolo.columns import (
    JSON,
    Boolean,
    DoublePrecision,
    ForeignKey,
    Integer,
    OnDelete,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table

from server.accounts.tables import Group, User
from server.clients.tables import Contact, Counterparty, Site


class Template(Table, tablename="task_templates"):
    """R1: every task has one; it decides group, channels, required fields, workflow."""

    id: Serial
    code = Varchar(length=50, unique=True)
    name = Varchar(length=150)
    default_group = ForeignKey(Group, null=True, on_delete=OnDelete.set_null)
    channels = JSON(default=["ui"])
    counterparty_in_title = Boolean(default=False)
    requires_check = Boolean(default=False)
    requires_completed_works = Boolean(default=False)
    # R9: a request solved on the phone may be entered directly as completed.
    allows_completed_on_creation = Boolean(default=False)
    # R4: created in the UI by a member of the default group -> that member is the assignee.
    creator_is_default_assignee = Boolean(default=False)
    # Field visits: en_route / arrive steps exist.
    has_departure = Boolean(default=False)


class Task(Table, tablename="tasks"):
    id: Serial
    number = Integer(null=True, default=None, unique=True)
    template = ForeignKey(Template, on_delete=OnDelete.restrict, index=True)
    title = Varchar(length=500)
    # Lower-cased title for `q` search: SQLite's LIKE folds ASCII only, not Cyrillic.
    title_search = Varchar(length=500)
    description = Text(default="")
    status = Varchar(length=20, index=True)
    counterparty = ForeignKey(Counterparty, null=True, on_delete=OnDelete.restrict, index=True)
    site = ForeignKey(Site, null=True, on_delete=OnDelete.restrict)
    group = ForeignKey(Group, null=True, on_delete=OnDelete.set_null, index=True)
    assignee = ForeignKey(User, null=True, on_delete=OnDelete.set_null, index=True)
    requester_user = ForeignKey(User, null=True, on_delete=OnDelete.set_null)
    requester_contact = ForeignKey(Contact, null=True, on_delete=OnDelete.set_null)
    created_by = ForeignKey(User, null=True, on_delete=OnDelete.set_null)
    channel = Varchar(length=20, default="ui")
    completed_works = Text(default="")
    version = Integer(default=1)
    created_at = Timestamptz()
    updated_at = Timestamptz()
    accepted_at = Timestamptz(null=True, default=None)
    completed_at = Timestamptz(null=True, default=None)
    departed_at = Timestamptz(null=True, default=None)
    arrived_at = Timestamptz(null=True, default=None)
    done_at = Timestamptz(null=True, default=None)
    # Check-in (arrive): where the engineer was, how far from the site, flagged if too far.
    checkin_lat = DoublePrecision(null=True, default=None)
    checkin_lon = DoublePrecision(null=True, default=None)
    checkin_distance_m = DoublePrecision(null=True, default=None)
    checkin_far = Boolean(default=False)
    # R11 postpone: the task comes back to this status and assignee at postponed_until.
    postponed_until = Timestamptz(null=True, default=None, index=True)
    postponed_from_status = Varchar(length=20, null=True, default=None)
    # R11 redirect with "call the client back".
    call_back = Boolean(default=False)
    priority = Varchar(length=10, default="normal")
    # R10: when the task entered its current status, and the last public reply by staff.
    status_changed_at = Timestamptz(null=True, default=None)
    replied_at = Timestamptz(null=True, default=None)
    # SLA targets, from the first matching rule at creation (server/sla). The rule and its
    # calendar are plain ids: the sla app depends on tasks, not the other way round.
    sla_rule_id = Integer(null=True, default=None)
    sla_calendar_id = Integer(null=True, default=None)
    due_reaction_at = Timestamptz(null=True, default=None, index=True)
    due_resolution_at = Timestamptz(null=True, default=None, index=True)
    reacted_at = Timestamptz(null=True, default=None)
    sla_paused_at = Timestamptz(null=True, default=None)
    # R6: the completed task this one continues (a client wrote again after completion).
    parent_task: ForeignKey["Task"] = ForeignKey(
        "self", null=True, on_delete=OnDelete.set_null, index=True
    )
    # The template's workflow as it was when the task was created: editing a template
    # changes new tasks only (server/tasks/editing.py), so the state machine and R2 read
    # these, not the template's current flags.
    has_departure = Boolean(default=False)
    requires_check = Boolean(default=False)
    requires_completed_works = Boolean(default=False)
    counterparty_in_title = Boolean(default=False)


class TaskEvent(Table, tablename="task_events"):
    """R12: every change, who, when, through which channel."""

    id: Serial
    task = ForeignKey(Task, on_delete=OnDelete.cascade, index=True)
    at = Timestamptz()
    actor = ForeignKey(User, null=True, on_delete=OnDelete.set_null)
    kind = Varchar(length=50)
    data = JSON(default={})
    channel = Varchar(length=20, default="ui")
    # Internal events are never shown to clients.
    internal = Boolean(default=True)


class Comment(Table, tablename="task_comments"):
    id: Serial
    task = ForeignKey(Task, on_delete=OnDelete.cascade, index=True)
    author_user = ForeignKey(User, null=True, on_delete=OnDelete.set_null)
    author_contact = ForeignKey(Contact, null=True, on_delete=OnDelete.set_null)
    body = Text()
    public = Boolean(default=False)
    channel = Varchar(length=20, default="ui")
    # Ids of users named as @login in the body.
    mentions = JSON(default=[])
    created_at = Timestamptz()


class TaskWatcher(Table, tablename="task_watchers"):
    """Employees who follow a task: they hear what its assignee hears. One row per task and
    user (a unique index, task_watchers_task_user, made by the migration)."""

    id: Serial
    task = ForeignKey(Task, on_delete=OnDelete.cascade)
    user = ForeignKey(User, on_delete=OnDelete.cascade)
    added_by = ForeignKey(User, null=True, on_delete=OnDelete.set_null)
    created_at = Timestamptz()

    @classmethod
    async def users_of(cls, task_id: int) -> list[tuple[int, str]]:
        """(user id, full name) of the task's watchers, in the order they joined."""
        rows = (
            await cls.select(cls.user.id, cls.user.full_name)
            .where(cls.task == task_id)
            .order_by(cls.created_at)
            .order_by(cls.id)
        )
        return [(r["user.id"], r["user.full_name"]) for r in rows]


class RefusalReason(Table, tablename="refusal_reasons"):
    """R11: why tasks are refused, a list admins keep (the dashboard counts refusals by it).
    A reason no longer used is made inactive, never deleted: old refusals keep naming it."""

    id: Serial
    name = Varchar(length=150, unique=True)
    active = Boolean(default=True)


class IdempotencyKey(Table, tablename="idempotency_keys"):
    """A replayed request (same user, same Idempotency-Key) returns the stored response.

    Written in the same transaction as the change it answers, so a change and its
    stored response exist together or not at all."""

    id: Serial
    user = ForeignKey(User, on_delete=OnDelete.cascade)
    key = Varchar(length=200)
    request_hash = Varchar(length=64)
    status_code = Integer()
    response = Text()
    created_at = Timestamptz(index=True)
