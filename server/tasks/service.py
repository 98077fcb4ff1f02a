"""Task creation and reading: rules R1–R4, R9 and R12.

Every write here runs in one transaction and records what it did in task_events.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any, cast

import msgspec

from server import db
from server.accounts.tables import Group, Membership, User
from server.clients import service as clients
from server.clients.tables import Contact, Counterparty, Site
from server.lib import clock, events
from server.lib.actor import Actor, Role
from server.lib.errors import Forbidden, InvalidInput, NotFound, RuleViolation
from server.lib.i18n import Phrase
from server.lib.search import contains_pattern
from server.settings import current as current_settings
from server.tasks import extensions
from server.tasks.events import TaskCreated
from server.tasks.schemas import (
    CommentAuthor,
    CommentOut,
    EventOut,
    Ref,
    Requester,
    SiteRef,
    TaskFilter,
    TaskIn,
    TaskOut,
    TaskPage,
    TemplateOut,
    UserRef,
)
from server.tasks.statuses import CLOSED, PAUSING, STATUSES, Channel, Status, is_overdue
from server.tasks.tables import Comment, Task, TaskEvent, TaskWatcher, Template
from server.tasks.workflow import actions_for, may_work

MAX_PAGE = 200


# --- templates -------------------------------------------------------------------------


def template_out(row: dict[str, Any]) -> TemplateOut:
    return TemplateOut(
        id=row["id"],
        code=row["code"],
        name=row["name"],
        default_group_id=row["default_group"],
        channels=list(row["channels"] or []),
        counterparty_in_title=row["counterparty_in_title"],
        requires_check=row["requires_check"],
        requires_completed_works=row["requires_completed_works"],
        allows_completed_on_creation=row["allows_completed_on_creation"],
        creator_is_default_assignee=row["creator_is_default_assignee"],
        has_departure=row["has_departure"],
    )


# What of its template a task keeps from its creation: editing a template changes new
# tasks only (server/tasks/editing.py), so workflow and R2 read these from the task row.
WORKFLOW_FLAGS = (
    "has_departure",
    "requires_check",
    "requires_completed_works",
    "counterparty_in_title",
)


def template_as_created(template: TemplateOut, task_row: dict[str, Any]) -> TemplateOut:
    """`template` with the workflow flags the task was created under (`task_row` has them)."""
    flags: dict[str, Any] = {f: bool(task_row[f]) for f in WORKFLOW_FLAGS}
    return msgspec.structs.replace(template, **flags)


async def template_of_task(task_row: dict[str, Any]) -> TemplateOut:
    """The template a task was created under: its row (`task_row["template.id"]`) with the
    workflow flags the task keeps (`task_row` has them)."""
    template = (
        await Template.select()
        .where(Template.id == task_row["template.id"])
        .first()
        .output(load_json=True)
    )
    assert template is not None, "a task always has its template"
    return template_as_created(template_out(template), task_row)


async def list_templates() -> list[TemplateOut]:
    rows = await Template.select().order_by(Template.code).output(load_json=True)
    return [template_out(r) for r in rows]


# Every create reads its template by code: written SQL, not Piccolo's query building.
_TEMPLATE_BY_CODE = (
    "SELECT id, code, name, default_group, channels, counterparty_in_title, requires_check, "
    "requires_completed_works, allows_completed_on_creation, creator_is_default_assignee, "
    "has_departure FROM task_templates WHERE code = {}"
)
_TEMPLATE_FLAGS = (
    "counterparty_in_title",
    "requires_check",
    "requires_completed_works",
    "allows_completed_on_creation",
    "creator_is_default_assignee",
    "has_departure",
)


async def get_template(code: str) -> TemplateOut:
    rows = await db.fetch_rows(_TEMPLATE_BY_CODE, code)
    if not rows:
        codes = ", ".join(t.code for t in await list_templates())
        raise RuleViolation("r1.template_unknown", code=code, codes=codes, rule="R1")
    row = dict(rows[0])
    if isinstance(row["channels"], str):  # json arrives as text from raw SQL
        row["channels"] = json.loads(row["channels"])
    for flag in _TEMPLATE_FLAGS:  # SQLite's raw rows carry booleans as 0/1
        row[flag] = bool(row[flag])
    return template_out(row)


# --- creation --------------------------------------------------------------------------


async def _resolve_counterparty(
    template: TemplateOut, title: str, counterparty_id: int | None, *, required: bool = True
) -> tuple[int | None, str | None]:
    """R2. Returns (counterparty id, how it was found); with `required=False` (mail must not
    be lost) a title naming no known counterparty gives (None, None) instead of failing."""
    if counterparty_id is not None:
        if not await Counterparty.exists().where(Counterparty.id == counterparty_id):
            raise InvalidInput("task.counterparty_id_no_such", counterparty_id=counterparty_id)
        if template.counterparty_in_title and not await clients.title_names_counterparty(
            title, counterparty_id
        ):
            cp = await clients.get_counterparty(counterparty_id)
            spellings = ", ".join(f"«{n}»" for n in [cp.name, *cp.aliases])
            raise RuleViolation(
                "r2.title_lacks_counterparty",
                template=template.code,
                title=title,
                cp_name=cp.name,
                spellings=spellings,
                rule="R2",
            )
        return counterparty_id, "given"
    if not template.counterparty_in_title:
        return None, None
    found = await clients.counterparties_in_title(title)
    if len(found) == 1:
        return found[0].counterparty_id, "title"
    if not required:
        return None, None
    if found:
        # Never a silent pick: each suggestion is the same title with one counterparty chosen.
        raise RuleViolation(
            "r2.counterparty_ambiguous",
            items=", ".join(m.name for m in found),
            rule="R2",
            extra={
                "rule": "R2",
                "suggestions": [
                    {"id": m.counterparty_id, "name": m.name, "title": title} for m in found
                ],
            },
        )
    suggestions = await clients.suggest_counterparties(title)
    raise RuleViolation(
        "r2.counterparty_missing_guess" if suggestions else "r2.counterparty_missing",
        title=title,
        guesses=" / ".join(f"«{s.title}»" for s in suggestions),
        rule="R2",
        extra={"rule": "R2", "suggestions": msgspec.to_builtins(suggestions)},
    )


async def require_employee(user_id: int, field: str) -> dict[str, Any]:
    row = (
        await User.select(User.id, User.full_name, User.roles, User.active)
        .where(User.id == user_id)
        .first()
        .output(load_json=True)
    )
    if row is None or not row["active"]:
        raise InvalidInput("task.no_such_active_user", field=field, user_id=user_id)
    if "client" in (row["roles"] or []):
        raise InvalidInput(
            "task.client_not_employee", field=field, user_id=user_id, full_name=row["full_name"]
        )
    return cast("dict[str, Any]", row)


def why_cannot_work(template: TemplateOut, group_name: str | None) -> Phrase:
    """R7 in words: who may hold a task of `template` (server/tasks/workflow.py may_work)."""
    if template.has_departure:
        return Phrase("r7.reason.on_site", template=template.code)
    return Phrase("r7.reason.group", template=template.code, group=group_name)


async def require_may_work(
    user_id: int, template: TemplateOut, group_id: int | None, field: str = "user_id"
) -> dict[str, Any]:
    """R7: the one check of whom a task may be given to (assign, redirect, creation)."""
    user = await require_employee(user_id, field)
    rows = await Membership.select(Membership.group).where(Membership.user == user_id)
    roles = list(user["roles"] or [])
    if may_work(template, group_id, roles, {r["group"] for r in rows}):
        return user
    group = await Group.select(Group.name).where(Group.id == group_id).first() if group_id else None
    raise RuleViolation(
        "r7.cannot_be_given",
        full_name=user["full_name"],
        reason=why_cannot_work(template, group["name"] if group else None),
        roles=roles,
        rule="R7",
    )


def require_channel(template: TemplateOut, channel: str) -> None:
    """R3: the one check of a channel against a template, for every way tasks come in."""
    channel = str(channel)  # a Channel member is named by its value, not its repr
    if channel not in template.channels:
        raise RuleViolation(
            "r3.channel_not_allowed",
            template=template.code,
            channel=channel,
            channels=list(template.channels),
            rule="R3",
        )


class _Placement(msgspec.Struct):
    """Where a new task lands: its queue, its holder and its starting status."""

    group_id: int | None
    assignee_id: int | None
    status: Status
    accepted_at: dt.datetime | None = None
    completed_at: dt.datetime | None = None


async def _site_counterparty(site_id: int | None, counterparty_id: int | None) -> int | None:
    """The counterparty implied by the site; a site of another counterparty is refused."""
    if site_id is None:
        return counterparty_id
    site = await Site.select(Site.counterparty).where(Site.id == site_id).first()
    if site is None:
        raise InvalidInput("task.site_id_no_such", site_id=site_id)
    if counterparty_id is None:
        return int(site["counterparty"])
    if site["counterparty"] != counterparty_id:
        raise InvalidInput(
            "task.site_belongs_another_counterparty",
            site_id=site_id,
            counterparty=site["counterparty"],
            counterparty_id=counterparty_id,
        )
    return counterparty_id


async def _place(
    actor: Actor | None,
    data: TaskIn,
    template: TemplateOut,
    channel: str,
    counterparty_id: int | None,
    now: dt.datetime,
) -> _Placement:
    """R4 (queue or named assignee) and R9 (a phone request entered as completed)."""
    if data.group_id is not None:
        if not await Group.exists().where(Group.id == data.group_id):
            raise InvalidInput("task.group_id_no_such", group_id=data.group_id)
        group_id: int | None = data.group_id
    else:
        group_id = template.default_group_id

    assignee_id: int | None = None
    if data.assignee_id is not None:
        await require_may_work(data.assignee_id, template, group_id, "assignee_id")
        assignee_id = data.assignee_id
    elif (
        template.creator_is_default_assignee
        and channel in (Channel.UI, Channel.PHONE)
        and data.group_id is None
        and actor is not None
        and actor.has_role("engineer")
        and template.default_group_id in actor.group_ids
    ):
        # R4: a remote engineer's own UI request is theirs unless they chose a group.
        assignee_id = actor.id

    if data.status != Status.COMPLETED:
        if assignee_id is None:
            return _Placement(group_id, None, Status.NEW)
        return _Placement(group_id, assignee_id, Status.ACCEPTED, accepted_at=now)
    if not template.allows_completed_on_creation:
        raise RuleViolation(
            "r9.template_not_phone",
            template=template.code,
            rule="R9",
        )
    if counterparty_id is None:
        raise RuleViolation("r9.request_entered_completed_needs", rule="R9")
    assignee_id = assignee_id or (actor.id if actor else None)
    return _Placement(group_id, assignee_id, Status.COMPLETED, accepted_at=now, completed_at=now)


# What a client may not choose in a portal request: the office places the task.
_CLIENT_FORBIDDEN_FIELDS = ("assignee_id", "group_id", "requester_contact_id", "status")


def _check_creation_request(actor: Actor | None, data: TaskIn) -> str:
    """R1 and the request's own shape; returns the normalised title."""
    if actor is not None and actor.is_client_only:
        if actor.counterparty_id is None:
            raise Forbidden("task.your_account_linked_no")
        for field in _CLIENT_FORBIDDEN_FIELDS:
            if getattr(data, field) is not None:
                raise Forbidden("task.client_request_cannot_set", field=field)
        if data.completed_works or data.channel != "ui":
            raise Forbidden("task.client_request_cannot_carry")
    if not data.template:
        raise RuleViolation(
            "r1.template_missing",
            rule="R1",
        )
    title = " ".join(data.title.split())
    if not title:
        raise InvalidInput("task.title_must_not_blank")
    if data.status not in (None, Status.COMPLETED):
        raise InvalidInput("task.create.status_not_allowed", status=data.status)
    return title


async def visible_counterparties(actor: Actor) -> set[int]:
    """A client's company and, for a chain's central office, the chain's restaurants."""
    if actor.counterparty_id is None:
        return set()
    rows = await Counterparty.select(Counterparty.id).where(
        (Counterparty.id == actor.counterparty_id) | (Counterparty.parent == actor.counterparty_id)
    )
    return {r["id"] for r in rows}


async def _client_request(
    actor: Actor, data: TaskIn, template: TemplateOut, title: str
) -> tuple[str, int]:
    """A portal request: the counterparty is the client's own (or a restaurant of its chain,
    named in the title or by its site), and R2 holds: its name is put in front of the title
    when the template needs it there and the client did not write it."""
    assert actor.counterparty_id is not None
    mine = await visible_counterparties(actor)
    chosen = await _site_counterparty(data.site_id, data.counterparty_id)
    if chosen is not None and chosen not in mine:
        raise Forbidden("task.client_creates_requests_own")
    if chosen is None:
        named = [m.counterparty_id for m in await clients.counterparties_in_title(title)]
        chosen = next((c for c in named if c in mine), actor.counterparty_id)
    if template.counterparty_in_title and not await clients.title_names_counterparty(title, chosen):
        name = (await clients.get_counterparty(chosen)).name
        title = f"{name}: {title}"[:500]
    return title, chosen


async def create_task(
    actor: Actor | None,
    data: TaskIn,
    *,
    channel: str | None = None,
    counterparty_required: bool = True,
    parent_task_id: int | None = None,
    event_data: dict[str, Any] | None = None,
) -> TaskOut:
    """Create a task through `channel` (default: the one named in `data`, usually ui).

    `actor` is None for channel intake (e-mail), where the requester is a contact
    (`data.requester_contact_id`) and no user creates the task; `counterparty_required=False`
    lets such a task through R2 without a counterparty (the channel flags it instead).
    `parent_task_id` makes it a follow-up of that task (R6: the client wrote again after it
    was completed); `event_data` travels with TaskCreated (e.g. the client's words)."""
    title = _check_creation_request(actor, data)
    client = actor is not None and actor.is_client_only
    # A client's request comes through the portal unless a channel says otherwise (the bot).
    channel = channel or (Channel.PORTAL if client else data.channel)
    assert data.template is not None
    template = await get_template(data.template)
    require_channel(template, channel)
    now = clock.now()
    async with db.transaction():
        if client:
            assert actor is not None
            title, client_cp = await _client_request(actor, data, template, title)
            data = msgspec.structs.replace(data, counterparty_id=client_cp)
        counterparty_id = await _site_counterparty(data.site_id, data.counterparty_id)
        counterparty_id, counterparty_found_by = await _resolve_counterparty(
            template, title, counterparty_id, required=counterparty_required
        )
        placement = await _place(actor, data, template, channel, counterparty_id, now)
        if data.requester_contact_id is not None and not await Contact.exists().where(
            Contact.id == data.requester_contact_id
        ):
            raise InvalidInput(
                "task.requester_contact_id_no_2", requester_contact_id=data.requester_contact_id
            )
        if parent_task_id is not None and not await Task.exists().where(Task.id == parent_task_id):
            raise InvalidInput("task.parent_task_no_such", parent_task_id=parent_task_id)
        actor_id = actor.id if actor else None
        row: dict[str, Any] = {
            "template": template.id,
            "title": title,
            "title_search": title.lower(),
            "description": data.description.strip(),
            "status": placement.status,
            "counterparty": counterparty_id,
            "site": data.site_id,
            "group": placement.group_id,
            "assignee": placement.assignee_id,
            "requester_user": None if data.requester_contact_id or actor is None else actor.id,
            "requester_contact": data.requester_contact_id,
            "created_by": actor_id,
            "channel": channel,
            "completed_works": data.completed_works.strip(),
            "priority": data.priority,
            "version": 1,
            "created_at": now,
            "updated_at": now,
            "status_changed_at": now,
            "accepted_at": placement.accepted_at,
            "completed_at": placement.completed_at,
            "parent_task": parent_task_id,
            **{f: getattr(template, f) for f in WORKFLOW_FLAGS},
        }
        created = {
            "template": template.code,
            "title": title,
            "status": placement.status,
            "group_id": placement.group_id,
            "assignee_id": placement.assignee_id,
            "counterparty_id": counterparty_id,
            "counterparty_found_by": counterparty_found_by,
            "site_id": data.site_id,
            "priority": data.priority,
            "parent_task_id": parent_task_id,
        }
        task_id = await _insert_task(row, actor_id, channel, created, now)
        await events.emit(
            TaskCreated(
                task_id=task_id,
                actor_id=actor_id,
                channel=channel,
                template_id=template.id,
                priority=data.priority,
                counterparty_id=counterparty_id,
                status=placement.status,
                at=now,
                number=task_id,
                title=title,
                group_id=placement.group_id,
                assignee_id=placement.assignee_id,
                site_id=data.site_id,
                has_departure=template.has_departure,
                equipment_ids=list(data.equipment_ids),
                parent_task_id=parent_task_id,
                data=event_data or {},
            )
        )
        return await _read_created(actor, task_id)


# The task, its number and its `created` event (R12) in one statement on PostgreSQL. The
# human number is the row id: unique, increasing and free of races, so the id is drawn
# from the sequence first and written to both columns. Columns not named take their
# defaults, the same as the ORM's (NULL, false, 0).
_INSERT_CREATED = """
WITH new AS (SELECT nextval(pg_get_serial_sequence('tasks', 'id'))::integer AS id),
t AS (
    INSERT INTO tasks (id, number, {columns})
    VALUES ((SELECT id FROM new), (SELECT id FROM new), {values})
    RETURNING id
)
INSERT INTO task_events (task, at, actor, kind, data, channel, internal)
SELECT t.id, {{}}::timestamptz, {{}}::integer, 'created', {{}}::json, {{}}::varchar, false
FROM t
RETURNING task
"""


async def _insert_task(
    row: dict[str, Any],
    actor_id: int | None,
    channel: str,
    created: dict[str, Any],
    now: dt.datetime,
) -> int:
    """Write the new task (`row`: column -> value) with its number and `created` event;
    returns its id. Call inside the creating transaction."""
    if db.is_sqlite():
        task = Task(**row)
        await task.save()
        await Task.update({Task.number: task.id}).where(Task.id == task.id)
        await record_event(task.id, actor_id, "created", channel, created, internal=False, at=now)
        return int(task.id)
    columns = ", ".join(f'"{name}"' for name in row)
    sql = _INSERT_CREATED.format(columns=columns, values=", ".join("{}" for _ in row))
    event = msgspec.json.encode(created).decode()
    rows = await db.fetch_rows(sql, *row.values(), now, actor_id, event, channel)
    return int(rows[0]["task"])


async def _read_created(actor: Actor | None, task_id: int) -> TaskOut:
    """The new task as get_task answers it (visibility included), after what the
    TaskCreated subscribers wrote. A task created a moment ago has no watchers (only
    editing adds them) and no follow-ups (a follow-up names an existing task as its
    parent), so those two reads of a single-task read are left out; on PostgreSQL what
    other domains show (equipment, contract, rating: extensions.read_in_sql) is read in
    the same statement as the row."""
    query = TaskQuery().where("t.id = {}", task_id)
    if actor is not None:
        query = _restrict_to_visible(query, actor)
    sql, args = query.sql()
    parts = None if db.is_sqlite() else extensions.single_read_sql()
    if parts:
        head, found, joins = sql.partition("FROM tasks t\n")
        assert found, "_TASK_SELECT no longer reads FROM tasks t"
        extras = ", ".join(f'({part.sql}) AS "created.ext{i}"' for i, part in enumerate(parts))
        sql = f"{head.rstrip()},\n    {extras}\n{found}{joins}"
    rows = await db.fetch_rows(sql, *args)
    if not rows:
        raise NotFound("task.not_found", task_id=task_id)
    task = _task_out(_typed(rows[0]), actor)
    if parts is None:
        await extensions.fill_single_read(task)
    else:
        for i, part in enumerate(parts):
            value = rows[0][f"created.ext{i}"]
            part.apply(task, json.loads(value) if isinstance(value, str | bytes) else value)
    return task


async def record_event(
    task_id: int,
    actor_id: int | None,
    kind: str,
    channel: str,
    data: dict[str, Any],
    *,
    internal: bool = True,
    at: dt.datetime | None = None,
) -> None:
    """R12: one history row per change; call inside the change's transaction."""
    await TaskEvent.insert(
        TaskEvent(
            task=task_id,
            at=at or clock.now(),
            actor=actor_id,
            kind=kind,
            data=data,
            channel=channel,
            internal=internal,
        )
    )


# --- reading ---------------------------------------------------------------------------

# Reading tasks is the hot path (every phone polls its queue), so the SELECT with its
# joins is written once here instead of being compiled by the ORM on every request;
# filters are appended as parameterised fragments ({} placeholders, Piccolo's raw()).
_TASK_SELECT = """
SELECT t.id, t.number, t.title, t.description, t.status, t.channel, t.completed_works,
    t.created_at, t.updated_at, t.accepted_at, t.completed_at, t.version,
    t.departed_at, t.arrived_at, t.done_at, t.checkin_distance_m, t.checkin_far,
    t.postponed_until, t.call_back, t.priority, t.due_reaction_at, t.due_resolution_at,
    t.reacted_at, t.parent_task,
    tpl.code AS "template.code", t.has_departure AS "template.has_departure",
    t.requires_check AS "template.requires_check",
    cp.id AS "counterparty.id", cp.name AS "counterparty.name",
    s.id AS "site.id", s.name AS "site.name", s.address AS "site.address",
    s.lat AS "site.lat", s.lon AS "site.lon",
    g.id AS "group.id", g.name AS "group.name",
    a.id AS "assignee.id", a.full_name AS "assignee.full_name",
    ru.id AS "requester_user.id", ru.full_name AS "requester_user.full_name",
    rc.id AS "requester_contact.id", rc.name AS "requester_contact.name"
FROM tasks t
JOIN task_templates tpl ON tpl.id = t.template
LEFT JOIN counterparties cp ON cp.id = t.counterparty
LEFT JOIN sites s ON s.id = t.site
LEFT JOIN work_groups g ON g.id = t."group"
LEFT JOIN users a ON a.id = t.assignee
LEFT JOIN users ru ON ru.id = t.requester_user
LEFT JOIN contacts rc ON rc.id = t.requester_contact
"""


class TaskQuery:
    """WHERE fragments and their arguments for _TASK_SELECT.

    `branches` are disjoint alternatives (OR-ed): the slices of a list that each have an
    index handing rows out newest first (the open tasks I hold; the new tasks of each of my
    groups; one status). `page_sql` reads every slice from its index with `LIMIT n` and
    joins the names on those few ids only, so a page costs the same at 10 000 and at
    1 000 000 tasks, with a plan PostgreSQL may cache."""

    def __init__(self) -> None:
        self.clauses: list[str] = []
        self.args: list[Any] = []
        self.branches: list[tuple[str, list[Any]]] = []

    def where(self, fragment: str, *args: Any) -> TaskQuery:
        self.clauses.append(fragment)
        self.args.extend(args)
        return self

    def where_in(self, column: str, values: list[Any]) -> TaskQuery:
        return self.where(f"{column} IN ({', '.join('{}' for _ in values)})", *values)

    def split(self, branches: list[tuple[str, list[Any]]]) -> TaskQuery:
        self.branches = branches
        return self

    def _conditions(self) -> tuple[list[str], list[Any]]:
        clauses, args = list(self.clauses), list(self.args)
        if self.branches:
            clauses.append("(" + " OR ".join(f"({b})" for b, _ in self.branches) + ")")
            for _, branch_args in self.branches:
                args.extend(branch_args)
        return clauses, args

    def sql(self, tail: str = "", *tail_args: Any, select: str = "") -> tuple[str, list[Any]]:
        clauses, args = self._conditions()
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        return f"{select or _TASK_SELECT} {where} {tail}", [*args, *tail_args]

    def page_sql(self, limit: int) -> tuple[str, list[Any]]:
        """The newest `limit` tasks (keyset: the cursor is a clause `t.id < {}`)."""
        limit = int(limit)
        parts: list[str] = []
        args: list[Any] = []
        for i, (branch, branch_args) in enumerate(self.branches or [("", [])]):
            conditions = [c for c in (*self.clauses, branch) if c]
            where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
            parts.append(
                f"SELECT id FROM (SELECT t.id FROM tasks t {where} "
                f"ORDER BY t.id DESC LIMIT {limit}) slice{i}"
            )
            args.extend([*self.args, *branch_args])
        page = " UNION ALL ".join(parts)
        select = _TASK_SELECT.replace(
            "FROM tasks t", f"FROM ({page}) page JOIN tasks t ON t.id = page.id", 1
        )
        return f"{select} ORDER BY t.id DESC LIMIT {limit}", args

    async def fetch(self, tail: str = "", *tail_args: Any) -> list[dict[str, Any]]:
        sql, args = self.sql(tail, *tail_args)
        rows: list[dict[str, Any]] = await Task.raw(sql, *args)
        return rows

    async def fetch_page(self, limit: int) -> Sequence[Mapping[str, Any]]:
        sql, args = self.page_sql(limit)
        return await db.fetch_rows(sql, *args)


class _RowFlags(msgspec.Struct):
    has_departure: bool
    requires_check: bool


def checkin_warning(far: bool, distance_m: float | None) -> str | None:
    """R7: a check-in far from the site is kept, but answered as a warning, not "on site"."""
    if not far or distance_m is None:
        return None
    radius = current_settings().checkin_radius_m
    return (
        f"checked in {round(distance_m)} m from the site, farther than the {radius:g} m "
        "allowed: the check-in is kept and flagged for the office"
    )


def _task_out(
    r: Mapping[str, Any],
    actor: Actor | None = None,
    now: dt.datetime | None = None,
    memo: dict[tuple[Any, ...], list[str]] | None = None,
) -> TaskOut:
    far = bool(r["checkin_far"])
    requester: Requester | None = None
    if r["requester_contact.id"] is not None:
        requester = Requester("contact", r["requester_contact.id"], r["requester_contact.name"])
    elif r["requester_user.id"] is not None:
        requester = Requester("user", r["requester_user.id"], r["requester_user.full_name"])
    return TaskOut(
        id=r["id"],
        number=r["number"] or r["id"],
        template=r["template.code"],
        title=r["title"],
        description=r["description"],
        status=_STATUSES[r["status"]],
        counterparty=Ref(r["counterparty.id"], r["counterparty.name"])
        if r["counterparty.id"] is not None
        else None,
        site=SiteRef(r["site.id"], r["site.name"], r["site.address"], r["site.lat"], r["site.lon"])
        if r["site.id"] is not None
        else None,
        group=Ref(r["group.id"], r["group.name"]) if r["group.id"] is not None else None,
        assignee=UserRef(r["assignee.id"], r["assignee.full_name"])
        if r["assignee.id"] is not None
        else None,
        requester=requester,
        completed_works=r["completed_works"],
        channel=r["channel"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        accepted_at=r["accepted_at"],
        completed_at=r["completed_at"],
        version=r["version"],
        departed_at=r["departed_at"],
        arrived_at=r["arrived_at"],
        done_at=r["done_at"],
        checkin_distance_m=r["checkin_distance_m"],
        checkin_far=far,
        checkin_warning=checkin_warning(far, r["checkin_distance_m"]) if far else None,
        postponed_until=r["postponed_until"],
        call_back=bool(r["call_back"]),
        parent_task_id=r["parent_task"],
        priority=r["priority"],
        due_reaction_at=r["due_reaction_at"],
        due_resolution_at=r["due_resolution_at"],
        overdue=is_overdue(
            status=r["status"],
            now=now or clock.now(),
            due_reaction_at=r["due_reaction_at"],
            reacted_at=r["reacted_at"],
            due_resolution_at=r["due_resolution_at"],
        ),
        actions=_actions(actor, r, {} if memo is None else memo) if actor is not None else [],
    )


# Status by its stored value: a dict lookup, where Status(value) goes through Enum.__call__
# (a list page shapes 50 rows).
_STATUSES: dict[str, Status] = {s.value: s for s in Status}


def _actions(
    actor: Actor, r: Mapping[str, Any], memo: dict[tuple[Any, ...], list[str]]
) -> list[str]:
    """actions_for a row; a list page asks it per row, and rows repeat the same few answers
    (the rows of one answer share the list: nothing changes an answer's actions)."""
    assignee_id, group_id = r["assignee.id"], r["group.id"]
    key = (
        r["status"],
        r["template.has_departure"],
        r["template.requires_check"],
        assignee_id == actor.id,
        assignee_id is None,
        group_id,
    )
    found = memo.get(key)
    if found is None:
        found = memo[key] = actions_for(
            actor,
            _RowFlags(bool(r["template.has_departure"]), bool(r["template.requires_check"])),
            r["status"],
            assignee_id=assignee_id,
            group_id=group_id,
        )
    return found


# Who sees every task: those who dispatch, check or administer the company's work.
SEES_ALL: tuple[Role, ...] = (Role.ADMIN, Role.OFFICE, Role.CHECKER)


def _restrict_to_involved(query: TaskQuery, actor: Actor) -> TaskQuery:
    """An engineer's tasks (issue #14, README "Who sees which task"): those of their groups,
    those they hold, worked on (an event of theirs in the history) or watch. Each EXISTS
    is one index probe per task (task_events_task_actor, task_watchers_task_user), so
    `queue=mine` and the lists stay index-driven."""
    groups = sorted(actor.group_ids)
    in_groups = f't."group" IN ({", ".join("{}" for _ in groups)}) OR ' if groups else ""
    return query.where(
        f"(t.assignee = {{}} OR {in_groups}"
        "EXISTS (SELECT 1 FROM task_events e WHERE e.task = t.id AND e.actor = {}) OR "
        'EXISTS (SELECT 1 FROM task_watchers w WHERE w.task = t.id AND w."user" = {}))',
        actor.id,
        *groups,
        actor.id,
        actor.id,
    )


def _restrict_to_visible(query: TaskQuery, actor: Actor) -> TaskQuery:
    """Admins, office staff and checkers see every task; engineers their involvement
    (_restrict_to_involved); clients only their company's tasks (and those of its chain
    members). Every read of a task and of what hangs on it goes through get_task: an
    invisible task is a 404."""
    if actor.has_role(*SEES_ALL):
        return query
    if not actor.is_client_only:
        return _restrict_to_involved(query, actor)
    if actor.counterparty_id is None:
        return query.where("1 = 0")
    query.where(
        "(t.counterparty = {} OR t.counterparty IN "
        "(SELECT id FROM counterparties WHERE parent = {}))",
        actor.counterparty_id,
        actor.counterparty_id,
    )
    # Tasks of some templates (accounting, by default) are the office's business only.
    hidden = [c.strip() for c in current_settings().portal_hidden_templates.split(",")]
    hidden = [c for c in hidden if c]
    if hidden:
        marks = ", ".join("{}" for _ in hidden)
        query.where(
            f"t.template NOT IN (SELECT id FROM task_templates WHERE code IN ({marks}))", *hidden
        )
    return query


def _json_value(value: Any) -> Any:
    """A json column as read by raw SQL: text on both engines (None stays None)."""
    return json.loads(value) if isinstance(value, str | bytes) else value


def single_read_select(source: str) -> str:
    """The single-task read (_TASK_SELECT plus watchers, follow-ups and what
    other domains add, extensions.read_in_sql) over the rows of `source` as `t`."""
    return _single_read_select(source, tuple(part.sql for part in _sql_parts()))


@functools.lru_cache(maxsize=16)
def _single_read_select(source: str, parts: tuple[str, ...]) -> str:
    extras = [
        "(SELECT coalesce(json_agg(json_build_array(u.id, u.full_name) "
        "ORDER BY w.created_at, w.id), '[]') FROM task_watchers w "
        'LEFT JOIN users u ON u.id = w."user" WHERE w.task = t.id) AS "answer.watchers"',
        "ARRAY(SELECT f.id FROM tasks f WHERE f.parent_task = t.id ORDER BY f.id) "
        'AS "answer.follow_ups"',
    ]
    extras += [f'({sql}) AS "answer.ext{i}"' for i, sql in enumerate(parts)]
    head, found, joins = _TASK_SELECT.partition("FROM tasks t\n")
    assert found, "_TASK_SELECT no longer reads FROM tasks t"
    return f"{head.rstrip()},\n    {', '.join(extras)}\nFROM {source} t\n{joins}"


def _sql_parts() -> list[extensions.SqlRead]:
    return extensions.single_read_sql() or []


async def single_read_out(row: Mapping[str, Any], actor: Actor | None) -> TaskOut:
    """A row of single_read_select (a dict, or asyncpg's Record on PostgreSQL) as the TaskOut
    a single-task read returns."""
    typed = _typed(dict(row)) if db.is_sqlite() else row
    task = _task_out(cast("dict[str, Any]", typed), actor)
    task.watchers = [UserRef(uid, name) for uid, name in _json_value(row["answer.watchers"])]
    task.follow_ups = list(row["answer.follow_ups"] or [])
    parts = extensions.single_read_sql()
    if parts is None:
        await extensions.fill_single_read(task)  # a filler without SQL: ask it
    else:
        for i, part in enumerate(parts):
            part.apply(task, _json_value(row[f"answer.ext{i}"]))
    return task


async def get_task(actor: Actor, task_id: int) -> TaskOut:
    query = _restrict_to_visible(TaskQuery().where("t.id = {}", task_id), actor)
    return await _one_task(query, task_id, actor)


async def get_task_unchecked(task_id: int) -> TaskOut:
    """For system actions (sweeps, jobs) that have no caller to check visibility for."""
    return await _one_task(TaskQuery().where("t.id = {}", task_id), task_id)


async def _one_task(query: TaskQuery, task_id: int, actor: Actor | None = None) -> TaskOut:
    if not db.is_sqlite():
        # One statement: the row, its watchers, follow-ups and what other domains add.
        sql, args = query.sql(select=single_read_select("tasks"))
        found = await db.fetch_rows(sql, *args)
        if not found:
            raise NotFound("task.not_found", task_id=task_id)
        return await single_read_out(found[0], actor)
    rows = await query.fetch()
    if not rows:
        raise NotFound("task.not_found", task_id=task_id)
    task = _task_out(_typed(rows[0]), actor)
    task.watchers = await task_watchers(task_id)
    task.follow_ups = await follow_up_ids(task_id)
    await extensions.fill_single_read(task)  # equipment, contract (other domains)
    return task


async def follow_up_ids(task_id: int) -> list[int]:
    """Tasks that continue this one (parent_task). Single-task reads only: in lists
    follow_ups stay [] so the list remains one query."""
    rows = await Task.select(Task.id).where(Task.parent_task == task_id).order_by(Task.id)
    return [r["id"] for r in rows]


async def task_watchers(task_id: int) -> list[UserRef]:
    return [UserRef(uid, name) for uid, name in await TaskWatcher.users_of(task_id)]


async def list_tasks(actor: Actor, f: TaskFilter) -> TaskPage:
    query = await build_list_query(actor, f)
    if f.sort != "-id":
        # Sorted by due time or priority the cursor is an offset (still opaque to clients).
        offset = f.cursor or 0
        tail = f"ORDER BY {LIST_ORDER[f.sort]} LIMIT {{}} OFFSET {{}}"
        rows = await query.fetch(tail, f.limit + 1, offset)
        more = len(rows) > f.limit
        return TaskPage(
            items=[_task_out(_typed(r), actor) for r in rows[: f.limit]],
            next_cursor=str(offset + f.limit) if more else None,
        )
    page = await query.fetch_page(f.limit + 1)
    more = len(page) > f.limit
    page = page[: f.limit]
    now = clock.now()
    memo: dict[tuple[Any, ...], list[str]] = {}
    return TaskPage(
        items=[_task_out(_typed(r), actor, now, memo) for r in page],
        next_cursor=str(page[-1]["id"]) if more and page else None,
    )


# GET /api/tasks?sort=: soonest due first (no due time last), or most urgent first.
_PRIORITY_RANK = (
    "CASE t.priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 WHEN 'normal' THEN 2 ELSE 3 END"
)
LIST_ORDER = {
    "-id": "t.id DESC",
    "due": "(t.due_resolution_at IS NULL), t.due_resolution_at, t.id DESC",
    "priority": f"{_PRIORITY_RANK}, (t.due_resolution_at IS NULL), t.due_resolution_at, t.id DESC",
}


async def open_tasks_of(actor: Actor, user_id: int) -> list[TaskOut]:
    """Every task `user_id` holds that is not closed, oldest first: what the office hands
    over when the user leaves (PATCH /api/users/{id} with active: false)."""
    if not await User.exists().where(User.id == user_id):
        raise NotFound("task.user_not_found", user_id=user_id)
    query = _restrict_to_visible(TaskQuery(), actor).where("t.assignee = {}", user_id)
    query.where_in("t.status", [s.value for s in STATUSES if s not in CLOSED])
    return [_task_out(_typed(r), actor) for r in await query.fetch("ORDER BY t.id")]


def overdue_sql(now: dt.datetime) -> tuple[str, list[Any]]:
    """The SQL twin of statuses.is_overdue over `t`: open, not paused, past a due time."""
    stopped = sorted({*CLOSED, *PAUSING})
    marks = ", ".join("{}" for _ in stopped)
    now = now.astimezone(dt.UTC)
    return (
        f"(t.status NOT IN ({marks}) AND ((t.due_reaction_at < {{}} AND t.reacted_at IS NULL) "
        "OR t.due_resolution_at < {}))",
        [*stopped, now, now],
    )


_CLOSED_SQL = ", ".join(f"'{s.value}'" for s in sorted(CLOSED))


def _involved_by_queue(actor: Actor) -> bool:
    """`queue=mine` lists only tasks an engineer holds or that wait in their groups' queues:
    all of them visible to that engineer (_restrict_to_involved), so the list needs no
    visibility clause of its own. Clients keep theirs."""
    return not actor.has_role(*SEES_ALL) and not actor.is_client_only


async def build_list_query(actor: Actor, f: TaskFilter) -> TaskQuery:
    """The filters of GET /api/tasks. list_tasks adds the order and one row more than
    the page, to tell whether there is a next page; the benchmark runs the same SQL."""
    if not 1 <= f.limit <= MAX_PAGE:
        raise InvalidInput("task.limit_must_between", max_page=MAX_PAGE)
    query = TaskQuery()
    if not (f.queue_mine and _involved_by_queue(actor)):
        _restrict_to_visible(query, actor)
    if f.statuses:
        unknown = [s for s in f.statuses if s not in STATUSES]
        if unknown:
            raise InvalidInput(
                "task.unknown_status_statuses",
                unknown=", ".join(unknown),
                statuses=", ".join(STATUSES),
            )
        if f.queue_mine or len(f.statuses) == 1:
            query.where_in("t.status", f.statuses)
        else:  # one index-ordered slice per status
            query.split([("t.status = {}", [s]) for s in dict.fromkeys(f.statuses)])
    if f.template:
        template = await get_template(f.template)
        query.where("t.template = {}", template.id)
    if f.assignee_id is not None:
        query.where("t.assignee = {}", f.assignee_id)
    if f.group_id is not None:
        query.where('t."group" = {}', f.group_id)
    if f.counterparty_id is not None:
        query.where("t.counterparty = {}", f.counterparty_id)
    if f.queue_mine:
        # My open tasks, plus the unaccepted tasks in the queues of my groups: one slice
        # each (the literal status list matches the partial index tasks_open_assignee_id).
        mine = "t.assignee = {}"
        if not f.statuses:
            mine += f" AND t.status NOT IN ({_CLOSED_SQL})"
        query.split(
            [(mine, [actor.id])]
            + [
                ("t.\"group\" = {} AND t.status = 'new' AND t.assignee IS NULL", [group])
                for group in sorted(actor.group_ids)
            ]
        )
    if f.q:
        q = f.q.strip().lstrip("#")
        if q.isdigit():
            query.where("t.number = {}", int(q))
        else:
            query.where("t.title_search LIKE {}", contains_pattern(q.lower()))
    if f.sort not in LIST_ORDER:
        raise InvalidInput("task.sort_must_one_got", list_order=", ".join(LIST_ORDER), sort=f.sort)
    if f.created_from is not None:
        query.where("t.created_at >= {}", f.created_from.astimezone(dt.UTC))
    if f.created_to is not None:
        query.where("t.created_at < {}", f.created_to.astimezone(dt.UTC))
    if f.overdue is not None:
        late, late_args = overdue_sql(clock.now())
        query.where(f"(CASE WHEN {late} THEN 1 ELSE 0 END) = {{}}", *late_args, int(f.overdue))
    if f.cursor is not None and f.sort == "-id":
        query.where("t.id < {}", f.cursor)
    return query


_TIMESTAMPS = (
    "created_at",
    "updated_at",
    "accepted_at",
    "completed_at",
    "departed_at",
    "arrived_at",
    "done_at",
    "postponed_until",
    "due_reaction_at",
    "due_resolution_at",
    "reacted_at",
)


def _typed(row: Mapping[str, Any]) -> Mapping[str, Any]:
    """Raw SQLite rows carry timestamps as stored text (booleans as 0/1: _task_out);
    PostgreSQL's rows come typed and pass through untouched."""
    if not isinstance(row, dict) or not isinstance(row["created_at"], str):
        return row
    for key in _TIMESTAMPS:
        row[key] = db.stored_datetime(row[key])
    return row


async def task_history(actor: Actor, task_id: int) -> list[EventOut]:
    await get_task(actor, task_id)  # 404 for tasks the caller cannot see
    query = (
        TaskEvent.select(
            TaskEvent.at,
            TaskEvent.kind,
            TaskEvent.data,
            TaskEvent.channel,
            TaskEvent.actor.id,
            TaskEvent.actor.full_name,
        )
        .where(TaskEvent.task == task_id)
        .order_by(TaskEvent.at)
        .order_by(TaskEvent.id)
        .output(load_json=True)
    )
    if actor.is_client_only:
        query = query.where(TaskEvent.internal.eq(False))
    return [
        EventOut(
            at=r["at"],
            actor=UserRef(r["actor.id"], r["actor.full_name"])
            if r["actor.id"] is not None
            else None,
            kind=r["kind"],
            data=r["data"] or {},
            channel=r["channel"],
        )
        for r in await query
    ]


async def list_comments(
    actor: Actor, task_id: int, *, comment_id: int | None = None
) -> list[CommentOut]:
    """Comments of a task, oldest first; clients get only public ones (R6)."""
    await get_task(actor, task_id)
    query = (
        Comment.select(
            Comment.id,
            Comment.body,
            Comment.public,
            Comment.channel,
            Comment.mentions,
            Comment.created_at,
            Comment.author_user.id,
            Comment.author_user.full_name,
            Comment.author_contact.id,
            Comment.author_contact.name,
        )
        .where(Comment.task == task_id)
        .order_by(Comment.created_at)
        .order_by(Comment.id)
        .output(load_json=True)
    )
    if actor.is_client_only:
        query = query.where(Comment.public.eq(True))
    if comment_id is not None:
        query = query.where(Comment.id == comment_id)
    result = []
    for r in await query:
        author: CommentAuthor | None = None
        if r["author_user.id"] is not None:
            author = CommentAuthor("user", r["author_user.id"], r["author_user.full_name"])
        elif r["author_contact.id"] is not None:
            author = CommentAuthor("contact", r["author_contact.id"], r["author_contact.name"])
        result.append(
            CommentOut(
                id=r["id"],
                task_id=task_id,
                body=r["body"],
                public=r["public"],
                author=author,
                channel=r["channel"],
                mentions=list(r["mentions"] or []),
                created_at=r["created_at"],
            )
        )
    return result
