"""The cost floor of the task lists (issue 21): a bare Litestar endpoint on an asyncpg pool
that answers what `GET /api/tasks` answers for the engineer's queue (`queue=mine`) and the
office's filtered lists (`status`, `group`, `counterparty`, `q`), 50 rows, with SQL written
to be answered from indexes, and nothing else:

- the page's ids first, from index-ordered scans that stop after 51 rows: one branch per
  slice with an index of its own (my open tasks; each of my groups' new tasks; each status
  asked for: `... ORDER BY id DESC LIMIT 51`), merged and cut to 51;
- then the joins (template, counterparty, site, group, assignee, requester) on those ids
  only;
- one pool acquire per request, no reset on release (nothing to reset: no session state);
- asyncpg's prepared statements at PostgreSQL's default plan cache (`plan_cache_mode =
  auto`: after five runs a generic plan is cached and reused; `q` keeps custom plans),
  the joins in the written order (`join_collapse_limit = 1`);
- the rows shaped straight into Naryad's own response structs (the same JSON, byte for
  byte, so the serialisation work is the same; `actions` from a memo of the pure
  workflow function), encoded once with msgspec;
- no auth: the caller is named by `?user=<id>`; users and their groups are read once at
  start-up.

The indexes it reads are listed in FLOOR_INDEXES; bench/list_bench.py makes the ones the
migrated schema lacks (and says so), so Naryad runs on the same indexes in the same run.

Run by bench/list_bench.py: `uvicorn bench.baseline_app:create_app --factory` with
BENCH_DSN in the environment.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import msgspec
from litestar import Litestar, Response, get

from server import settings as process_settings
from server.lib.actor import Actor
from server.settings import Settings
from server.tasks.schemas import Ref, Requester, SiteRef, TaskOut, TaskPage, UserRef
from server.tasks.service import checkin_warning
from server.tasks.statuses import CLOSED, is_overdue
from server.tasks.workflow import actions_for

PAGE = 50
# Not closed: the predicate of the partial index of open tasks by holder, written as the
# query writes it (PostgreSQL proves a partial index usable from the query's own literals).
OPEN_PREDICATE = "status NOT IN (" + ", ".join(f"'{s.value}'" for s in sorted(CLOSED)) + ")"

# What the floor's scans read. All but tasks_group_status came with issue 21's migration
# (tasks_2026_11_29t01); list_bench.py makes any the schema lacks, so both sides of a run
# read the same indexes.
FLOOR_INDEXES: list[tuple[str, str, tuple[str, ...], str | None]] = [
    # (name, table, columns, partial index predicate)
    ("tasks_group_status", "tasks", ("group", "status", "id"), None),
    ("tasks_open_assignee_id", "tasks", ("assignee", "id"), OPEN_PREDICATE),
    ("tasks_status_id", "tasks", ("status", "id"), None),
    ("tasks_group_id", "tasks", ("group", "id"), None),
    ("tasks_counterparty_id", "tasks", ("counterparty", "id"), None),
]

_COLUMNS = """
    t.id, t.number, t.title, t.description, t.status, t.channel, t.completed_works,
    t.created_at, t.updated_at, t.accepted_at, t.completed_at, t.version,
    t.departed_at, t.arrived_at, t.done_at, t.checkin_distance_m, t.checkin_far,
    t.postponed_until, t.call_back, t.priority, t.due_reaction_at, t.due_resolution_at,
    t.reacted_at, t.parent_task, t.has_departure, t.requires_check,
    tpl.code AS template_code,
    cp.id AS cp_id, cp.name AS cp_name,
    s.id AS site_id, s.name AS site_name, s.address AS site_address,
    s.lat AS site_lat, s.lon AS site_lon,
    g.id AS group_id, g.name AS group_name,
    a.id AS assignee_id, a.full_name AS assignee_name,
    ru.id AS ru_id, ru.full_name AS ru_name,
    rc.id AS rc_id, rc.name AS rc_name
"""

# The names _COLUMNS reads, joined to the task rows `t` (also the same-job accept floor's).
NAME_JOINS = """JOIN task_templates tpl ON tpl.id = t.template
LEFT JOIN counterparties cp ON cp.id = t.counterparty
LEFT JOIN sites s ON s.id = t.site
LEFT JOIN work_groups g ON g.id = t."group"
LEFT JOIN users a ON a.id = t.assignee
LEFT JOIN users ru ON ru.id = t.requester_user
LEFT JOIN contacts rc ON rc.id = t.requester_contact"""

_JOINS = f"""
JOIN tasks t ON t.id = page.id
{NAME_JOINS}
ORDER BY t.id DESC
"""


def _page_sql(tag: str, ids: str) -> str:
    return f"/* floor:{tag} */ SELECT {_COLUMNS} FROM ({ids}) page {_JOINS}"


def mine_sql(n_groups: int) -> str:
    """The engineer's queue: my open tasks (tasks_open_assignee_id) and the unaccepted tasks
    in each of my groups' queues (tasks_group_status, one branch per group), each newest
    first from its index, 51 at most. $1 me, $2.. my groups."""
    queues = "".join(
        f"""
        UNION ALL
        (SELECT id FROM tasks WHERE "group" = ${i + 2} AND status = 'new' AND assignee IS NULL
         ORDER BY id DESC LIMIT 51)"""
        for i in range(n_groups)
    )
    return _page_sql(
        f"mine{n_groups}",
        f"""
        SELECT id FROM (
            (SELECT id FROM tasks WHERE assignee = $1 AND {OPEN_PREDICATE}
             ORDER BY id DESC LIMIT 51){queues}
        ) u ORDER BY id DESC LIMIT 51
        """,
    )


# The office's lists (the office sees every task). $1 the statuses asked for: one branch
# each over tasks_status_id.
STATUS_SQL = _page_sql(
    "status",
    """
    SELECT id FROM (
        SELECT x.id FROM unnest($1::text[]) AS st(status)
        CROSS JOIN LATERAL (
            SELECT id FROM tasks WHERE status = st.status ORDER BY id DESC LIMIT 51) x
    ) u ORDER BY id DESC LIMIT 51
    """,
)
GROUP_SQL = _page_sql("group", 'SELECT id FROM tasks WHERE "group" = $1 ORDER BY id DESC LIMIT 51')
COUNTERPARTY_SQL = _page_sql(
    "counterparty", "SELECT id FROM tasks WHERE counterparty = $1 ORDER BY id DESC LIMIT 51"
)
# A word of the title: the newest tasks first, backwards along the primary key until 51
# match (a common word is found within a few hundred rows, whatever the table's size).
# PostgreSQL plans this one for each pattern (its plan cache keeps custom plans: a generic
# plan cannot see how common the word is); with the joins kept in the written order
# (join_collapse_limit=1, below) that planning is cheap.
Q_SQL = _page_sql("q", "SELECT id FROM tasks WHERE title_search LIKE $1 ORDER BY id DESC LIMIT 51")

# The joins are written in the order to run them (the page's ids first); searching other
# orders would only cost planning time. The plan cache is left as it is.
FLOOR_SESSION = {"join_collapse_limit": "1"}

_encoder = msgspec.json.Encoder()
_state: dict[str, Any] = {}
_actions: dict[tuple[Any, ...], list[str]] = {}


class _Flags(msgspec.Struct):
    has_departure: bool
    requires_check: bool


def _task(r: asyncpg.Record, actor: Actor, now: dt.datetime) -> TaskOut:
    status = r["status"]
    assignee_id = r["assignee_id"]
    group_id = r["group_id"]
    key = (
        actor.id,
        status,
        r["has_departure"],
        r["requires_check"],
        assignee_id == actor.id,
        assignee_id is None,
        group_id,
    )
    actions = _actions.get(key)
    if actions is None:
        flags = _Flags(r["has_departure"], r["requires_check"])
        actions = _actions[key] = actions_for(
            actor, flags, status, assignee_id=assignee_id, group_id=group_id
        )
    requester: Requester | None = None
    if r["rc_id"] is not None:
        requester = Requester("contact", r["rc_id"], r["rc_name"])
    elif r["ru_id"] is not None:
        requester = Requester("user", r["ru_id"], r["ru_name"])
    site_id = r["site_id"]
    return TaskOut(
        id=r["id"],
        number=r["number"] or r["id"],
        template=r["template_code"],
        title=r["title"],
        description=r["description"],
        status=status,
        counterparty=Ref(r["cp_id"], r["cp_name"]) if r["cp_id"] is not None else None,
        site=SiteRef(site_id, r["site_name"], r["site_address"], r["site_lat"], r["site_lon"])
        if site_id is not None
        else None,
        group=Ref(group_id, r["group_name"]) if group_id is not None else None,
        assignee=UserRef(assignee_id, r["assignee_name"]) if assignee_id is not None else None,
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
        checkin_far=r["checkin_far"],
        checkin_warning=checkin_warning(True, r["checkin_distance_m"])
        if r["checkin_far"]
        else None,
        postponed_until=r["postponed_until"],
        call_back=r["call_back"],
        parent_task_id=r["parent_task"],
        priority=r["priority"],
        due_reaction_at=r["due_reaction_at"],
        due_resolution_at=r["due_resolution_at"],
        overdue=is_overdue(
            status=status,
            now=now,
            due_reaction_at=r["due_reaction_at"],
            reacted_at=r["reacted_at"],
            due_resolution_at=r["due_resolution_at"],
        ),
        actions=actions,
    )


async def _no_reset(_connection: asyncpg.Connection) -> None:
    """The pool's reset on release: nothing. asyncpg's default sends `pg_advisory_unlock_all();
    CLOSE ALL; UNLISTEN *; RESET ALL` after every query, a round trip more; the floor keeps
    no session state (nor does Naryad, which skips it too: server/db.py)."""


@asynccontextmanager
async def lifespan(_: Litestar) -> AsyncIterator[None]:
    process_settings.install(Settings.from_env(dict(os.environ)))
    pool = _state["pool"] = await asyncpg.create_pool(
        os.environ["BENCH_DSN"],
        min_size=1,
        max_size=10,
        reset=_no_reset,
        server_settings=FLOOR_SESSION,
    )
    groups: dict[int, set[int]] = {}
    for m in await pool.fetch('SELECT "user", "group" FROM group_memberships'):
        groups.setdefault(m["user"], set()).add(m["group"])
    _state["actors"] = {
        u["id"]: Actor(
            id=u["id"],
            login=u["login"],
            full_name=u["full_name"],
            roles=frozenset(msgspec.json.decode(u["roles"])),
            group_ids=frozenset(groups.get(u["id"], ())),
            counterparty_id=u["counterparty"],
        )
        for u in await pool.fetch(
            "SELECT id, login, full_name, roles::text, counterparty FROM users WHERE active"
        )
    }
    yield
    await pool.close()


@get("/tasks")
async def tasks(
    user: int,
    queue: str | None = None,
    status: str | None = None,
    group: int | None = None,
    counterparty: int | None = None,
    q: str | None = None,
) -> Response[bytes]:
    actor: Actor = _state["actors"][user]
    pool: asyncpg.Pool = _state["pool"]
    if queue == "mine":
        groups = sorted(actor.group_ids)
        rows = await pool.fetch(mine_sql(len(groups)), actor.id, *groups)
    elif status:
        rows = await pool.fetch(STATUS_SQL, status.split(","))
    elif group is not None:
        rows = await pool.fetch(GROUP_SQL, group)
    elif counterparty is not None:
        rows = await pool.fetch(COUNTERPARTY_SQL, counterparty)
    elif q:
        pattern = "%" + q.lower().replace("%", "").replace("_", "") + "%"
        rows = await pool.fetch(Q_SQL, pattern)
    else:
        need = b'{"error":"queue=mine, status, group, counterparty or q"}'
        return Response(need, status_code=400)
    now = dt.datetime.now(dt.UTC)
    items = [_task(r, actor, now) for r in rows[:PAGE]]
    cursor = str(items[-1].id) if len(rows) > PAGE else None
    return Response(
        _encoder.encode(TaskPage(items=items, next_cursor=cursor)), media_type="application/json"
    )


def create_app() -> Litestar:
    return Litestar([tasks], lifespan=[lifespan], logging_config=None)
