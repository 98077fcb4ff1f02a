"""Fast, realistic task data for the list benchmarks and the list-plan test, in SQL only.

The people: an office user, 20 engineers (each in two of the five seeded groups), 200
counterparties (a few big, many small: counterparty i gets roughly the share of tasks a
square-root law gives), two sites and one contact each. The tasks: ids 1..n with
`created_at` one minute apart, the newest a minute ago; ~10 % new (unassigned), 30 % in
work (20 % in_progress, the rest accepted, en route, waiting for the client, done or
postponed), 55 % completed, 5 % cancelled; the group is spread evenly, the assignee is an
engineer of the task's group; one `created` event per task (by the office) and an
`accepted` event by the assignee for every accepted task, so the visibility EXISTS
clauses have data; one task in a hundred has a watcher. Every attribute of task g comes
from hashes of g, so the same g always gets the same task whatever the size.

`grow(conn, n_before, n_after)` adds tasks n_before+1..n_after and moves the older ones'
timestamps back, so the data at 100k is the data at 10k plus 90k newer tasks, and the
newest task is always a minute old (a steady ~1 440 tasks a day: 10k tasks are a week of
history, 1M two years).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import asyncpg

ENGINEERS = 20
COUNTERPARTIES = 200
# 1 in 20 titles names the till («касса»): the `q` list searches for it.
PROBLEMS = [
    "касса не печатает чек",
    "замена фискального накопителя",
    "не работает сканер штрихкодов",
    "весы не передают вес",
    "перерегистрация ККТ",
    "настройка эквайринга",
    "обновление прошивки",
    "нет связи с ОФД",
    "замена термоголовки принтера",
    "установка рабочего места",
    "подключение терминала сбора данных",
    "ошибка при закрытии смены",
    "не открывается 1С",
    "перенос базы товаров",
    "проверка электропитания",
    "доставка расходных материалов",
    "ремонт блока питания",
    "настройка маркировки",
    "выезд на открытие магазина",
    "консультация по отчётам",
]
Q_WORD = "касса"
PASSWORD = "bench-pass"


@dataclass
class People:
    office_id: int
    engineer_ids: list[int]
    group_ids: list[int]
    # groups of each engineer, by user id
    memberships: dict[int, list[int]]
    counterparty_ids: list[int]


async def seed_users(conn: asyncpg.Connection, password_hash: str = "") -> None:
    """The office user and the engineers with their groups (all with one password)."""
    group_ids = [r["id"] for r in await conn.fetch("SELECT id FROM work_groups ORDER BY id")]
    assert len(group_ids) == 5, group_ids
    await conn.execute(
        """INSERT INTO users (login, password_hash, full_name, surname, surname_key, roles)
        VALUES ('office', $1, 'Офис Диспетчер', 'Диспетчер', 'диспетчер', '["office"]')""",
        password_hash,
    )
    engineer_ids = [
        r["id"]
        for r in await conn.fetch(
            """INSERT INTO users (login, password_hash, full_name, surname, surname_key, roles)
            SELECT 'eng' || i, $1, 'Инженер ' || i || ' Иванов', 'Иванов' || i,
                'иванов' || i, '["engineer"]'
            FROM generate_series(0, $2 - 1) AS i ORDER BY i
            RETURNING id""",
            password_hash,
            ENGINEERS,
        )
    ]
    # engineer i is in groups i mod 5 and i+1 mod 5: eight engineers per group
    await conn.executemany(
        'INSERT INTO group_memberships ("user", "group") VALUES ($1, $2)',
        [(uid, group_ids[(i + k) % 5]) for i, uid in enumerate(engineer_ids) for k in (0, 1)],
    )


def counterparty_name(i: int) -> str:
    return f"ООО «Клиент {i}»"


async def seed_counterparties(conn: asyncpg.Connection) -> None:
    """The counterparties straight in SQL, without the R2 spellings that saving through the
    API indexes (the benchmarks create them through POST /api/counterparties instead, so a
    title names them)."""
    await conn.executemany(
        "INSERT INTO counterparties (name, aliases, email_domains) VALUES ($1, '[]', '[]')",
        [(counterparty_name(i),) for i in range(1, COUNTERPARTIES + 1)],
    )


async def seed_places(conn: asyncpg.Connection) -> None:
    """Two sites and a contact for each counterparty."""
    await conn.execute(
        """INSERT INTO sites (counterparty, name, address, lat, lon)
        SELECT c.id, 'Магазин ' || c.id || '-' || k, 'Москва, ул. Тестовая, д. ' || c.id || k,
            55.7 + (c.id % 50) / 500.0, 37.6 + k / 100.0
        FROM counterparties c CROSS JOIN generate_series(1, 2) AS k ORDER BY c.id, k"""
    )
    await conn.execute(
        """INSERT INTO contacts (name, email, phone, counterparty)
        SELECT 'Контакт ' || c.id, 'c' || c.id || '@example.com', '+7900' || c.id, c.id
        FROM counterparties c ORDER BY c.id"""
    )


async def people(conn: asyncpg.Connection) -> People:
    group_ids = [r["id"] for r in await conn.fetch("SELECT id FROM work_groups ORDER BY id")]
    users = {r["login"]: r["id"] for r in await conn.fetch("SELECT id, login FROM users")}
    engineer_ids = [users[f"eng{i}"] for i in range(ENGINEERS)]
    memberships: dict[int, list[int]] = {}
    for m in await conn.fetch('SELECT "user", "group" FROM group_memberships ORDER BY "group"'):
        memberships.setdefault(m["user"], []).append(m["group"])
    cps = [r["id"] for r in await conn.fetch("SELECT id FROM counterparties ORDER BY id")]
    return People(users["office"], engineer_ids, group_ids, memberships, cps)


# h(g, salt): a pseudo-random non-negative integer per task and attribute.
_H = "(hashint4extended({g}, {salt}) & 2147483647)"


def _h(salt: int, g: str = "g") -> str:
    return _H.format(g=g, salt=salt)


_TASKS_SQL = f"""
WITH ctx AS (
    SELECT
        (SELECT array_agg(id ORDER BY id) FROM work_groups) AS groups,
        (SELECT array_agg(tpl.id ORDER BY g.id) FROM work_groups g
            JOIN task_templates tpl ON tpl.default_group = g.id) AS templates,
        (SELECT array_agg(has_departure ORDER BY g.id) FROM work_groups g
            JOIN task_templates tpl ON tpl.default_group = g.id) AS departs,
        (SELECT array_agg(requires_check ORDER BY g.id) FROM work_groups g
            JOIN task_templates tpl ON tpl.default_group = g.id) AS checks,
        (SELECT array_agg(id ORDER BY id) FROM users WHERE login LIKE 'eng%') AS engineers,
        (SELECT array_agg(id ORDER BY id) FROM counterparties) AS cps,
        (SELECT array_agg(id ORDER BY id) FROM sites) AS sites,
        (SELECT array_agg(id ORDER BY id) FROM contacts) AS contacts,
        $3::text[] AS problems
),
raw AS (
    SELECT g,
        {_h(1)} % 100 AS r_status,
        {_h(2)} % 5 AS k,
        ({_h(3)} % 1000) * ({_h(3)} % 1000) / 5000 AS cpi,
        {_h(4)} AS r4,
        {_h(5)} % 100 AS r5,
        {_h(8)} % 20 AS problem,
        date_trunc('minute', now()) - (($2::int - g + 1) || ' minutes')::interval AS created
    FROM generate_series($1::int + 1, $2::int) AS g
),
shaped AS (
    SELECT raw.*,
        CASE WHEN r_status < 10 THEN 'new'
             WHEN r_status < 30 THEN 'in_progress'
             WHEN r_status < 34 THEN 'accepted'
             WHEN r_status < 36 THEN 'en_route'
             WHEN r_status < 38 THEN 'waiting_client'
             WHEN r_status < 39 THEN 'done'
             WHEN r_status < 40 THEN 'postponed'
             WHEN r_status < 95 THEN 'completed'
             ELSE 'cancelled' END AS status,
        -- an engineer of group k: index (k - b) mod 5 + 5 j is in groups k-b and k-b+1
        1 + ((k - r4 % 2 + 5) % 5) + 5 * ((r4 / 2) % 4) AS eng_i
    FROM raw
)
INSERT INTO tasks (id, number, template, title, title_search, description, status,
    counterparty, site, "group", assignee, requester_contact, created_by, channel,
    completed_works, version, created_at, updated_at, accepted_at, completed_at,
    status_changed_at, due_resolution_at, postponed_until, priority, has_departure,
    requires_check, checkin_far, call_back)
SELECT s.g, s.g, ctx.templates[s.k + 1],
    'ООО «Клиент ' || (s.cpi + 1) || '»: ' || ctx.problems[1 + s.problem],
    lower('ООО «Клиент ' || (s.cpi + 1) || '»: ' || ctx.problems[1 + s.problem]),
    'Клиент позвонил: ' || ctx.problems[1 + s.problem] || '. Касса №' || (1 + s.r4 % 7)
        || ', магазин открыт с 9 до 21, код домофона ' || (1000 + s.r4 % 9000) || '.',
    s.status,
    ctx.cps[s.cpi + 1],
    CASE WHEN s.r5 < 80 THEN ctx.sites[2 * s.cpi + 1 + s.r4 % 2] END,
    ctx.groups[s.k + 1],
    CASE WHEN s.status <> 'new' THEN ctx.engineers[s.eng_i] END,
    CASE WHEN s.r5 % 2 = 0 THEN ctx.contacts[s.cpi + 1] END,
    (SELECT id FROM users WHERE login = 'office'),
    CASE WHEN s.r5 < 70 THEN 'phone' ELSE 'email' END,
    CASE WHEN s.status IN ('completed', 'done') THEN 'Работы выполнены, проверено.' ELSE '' END,
    CASE WHEN s.status = 'new' THEN 1 ELSE 3 END,
    s.created, s.created + interval '3 hours',
    CASE WHEN s.status <> 'new' THEN s.created + interval '10 minutes' END,
    CASE WHEN s.status = 'completed' THEN s.created + interval '3 hours' END,
    s.created + interval '3 hours',
    CASE WHEN s.r5 < 50 THEN s.created + interval '1 day' END,
    CASE WHEN s.status = 'postponed' THEN now() + interval '2 days' END,
    CASE WHEN s.r5 < 5 THEN 'urgent' WHEN s.r5 < 15 THEN 'high'
         WHEN s.r5 < 20 THEN 'low' ELSE 'normal' END,
    ctx.departs[s.k + 1], ctx.checks[s.k + 1], false, false
FROM shaped s, ctx
"""

_EVENTS_SQL = """
INSERT INTO task_events (task, at, actor, kind, data, channel, internal)
SELECT t.id, t.created_at, t.created_by, 'created', '{}'::json, t.channel, false
FROM tasks t WHERE t.id > $1 AND t.id <= $2
UNION ALL
SELECT t.id, t.accepted_at, t.assignee, 'accepted', '{}'::json, 'ui', true
FROM tasks t WHERE t.id > $1 AND t.id <= $2 AND t.accepted_at IS NOT NULL
"""

_WATCHERS_SQL = f"""
INSERT INTO task_watchers (task, "user", added_by, created_at)
SELECT t.id, (SELECT array_agg(id ORDER BY id) FROM users WHERE login LIKE 'eng%')
        [1 + {_h(7, "t.id")} % {ENGINEERS}],
    t.created_by, t.created_at
FROM tasks t WHERE t.id > $1 AND t.id <= $2 AND {_h(6, "t.id")} % 100 = 0
ON CONFLICT DO NOTHING
"""

_SHIFT_SQL = """
UPDATE tasks SET created_at = created_at - $2::interval, updated_at = updated_at - $2::interval,
    accepted_at = accepted_at - $2::interval, completed_at = completed_at - $2::interval,
    status_changed_at = status_changed_at - $2::interval,
    due_resolution_at = due_resolution_at - $2::interval
WHERE id <= $1
"""


async def grow(conn: asyncpg.Connection, n_before: int, n_after: int) -> None:
    """Add tasks n_before+1..n_after (their events and watchers), shift the older ones back
    so the newest task is a minute old, set the id sequence, VACUUM ANALYZE."""
    if n_before:
        shift = dt.timedelta(minutes=n_after - n_before)
        await conn.execute(_SHIFT_SQL, n_before, shift)
        await conn.execute(
            "UPDATE task_events SET at = at - $2::interval WHERE task <= $1", n_before, shift
        )
        await conn.execute(
            "UPDATE task_watchers SET created_at = created_at - $2::interval WHERE task <= $1",
            n_before,
            shift,
        )
    await conn.execute(_TASKS_SQL, n_before, n_after, PROBLEMS)
    await conn.execute(_EVENTS_SQL, n_before, n_after)
    await conn.execute(_WATCHERS_SQL, n_before, n_after)
    await conn.execute("SELECT setval('tasks_id_seq', $1)", n_after)
    await conn.execute("VACUUM ANALYZE tasks")
    await conn.execute("VACUUM ANALYZE task_events")
    await conn.execute("VACUUM ANALYZE task_watchers")


async def drop_after(conn: asyncpg.Connection, n: int) -> int:
    """Delete the tasks a benchmark created (ids above n) and what hangs on them."""
    deleted = await conn.fetchval(
        "WITH d AS (DELETE FROM tasks WHERE id > $1 RETURNING 1) SELECT count(*) FROM d", n
    )
    await conn.execute("SELECT setval('tasks_id_seq', $1)", n)
    await conn.execute("VACUUM ANALYZE tasks")
    return int(deleted)


async def add_new_tasks(conn: asyncpg.Connection, template_code: str, count: int) -> list[int]:
    """`count` unassigned new tasks of a template in its default group (for accepting)."""
    rows = await conn.fetch(
        """INSERT INTO tasks (number, template, title, title_search, description, status,
            counterparty, "group", created_by, channel, version, created_at, updated_at,
            status_changed_at, priority, has_departure, requires_check)
        SELECT NULL, tpl.id, 'ООО «Клиент 1»: к принятию ' || i, 'ооо «клиент 1»: к принятию ' || i,
            '', 'new', (SELECT min(id) FROM counterparties), tpl.default_group,
            (SELECT id FROM users WHERE login = 'office'), 'ui', 1, now(), now(), now(),
            'normal', tpl.has_departure, tpl.requires_check
        FROM task_templates tpl CROSS JOIN generate_series(1, $2::int) AS i
        WHERE tpl.code = $1
        ORDER BY i
        RETURNING id""",
        template_code,
        count,
    )
    ids = [r["id"] for r in rows]
    await conn.execute("UPDATE tasks SET number = id WHERE id = ANY($1::int[])", ids)
    return ids
