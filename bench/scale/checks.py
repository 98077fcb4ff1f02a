"""What must hold after a scale-out run, checked against the database and the SMTP sink, and
the per-user state that must be shared by every API process (checked process by process,
bypassing the proxy).

* Acknowledged writes: every create, transition and photo the server answered 2xx to is in
  the database, and no keyed write happened twice (the marker / file name of each request
  is found at most once; each task has at most one event of each kind).
* Accept races: a task that left the queue has exactly one `accepted` or `assigned` event,
  by the one person (if any) whose request was answered 200.
* Notifications: every row ended `sent`, every Message-ID reached the SMTP sink, and the
  sink got no more duplicates than workers were killed.
* No request waited longer than the client's timeout, and none was answered 500: while a
  part is down the API answers 503 and the proxy 502.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

import asyncpg

from bench.scale.workload import TIMEOUT, Api, Company, Recorder, User


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    must: bool = True  # one of issue 20's must-holds; else reported beside them

    def line(self) -> str:
        mark = (
            ("ok" if self.ok else "FAIL")
            if self.must
            else ("also ok" if self.ok else "ALSO FAILED")
        )
        return f"  [{mark}] {self.name}: {self.detail}"


async def _connect(db_url: str) -> asyncpg.Connection:
    return await asyncpg.connect(db_url, timeout=30)


async def verify_writes(db_url: str, rec: Recorder) -> list[Check]:
    conn = await _connect(db_url)
    try:
        rows = await conn.fetch(
            "SELECT id, substr(description, 7) AS marker FROM tasks "
            "WHERE description LIKE 'scale:%'"
        )
        events = await conn.fetch(
            "SELECT task, kind, actor FROM task_events WHERE kind = ANY($1::text[])",
            ["accepted", "assigned", "departed", "arrived", "done", "approved"],
        )
        photos = await conn.fetch(
            "SELECT id, filename FROM task_attachments WHERE filename LIKE 'scale-%'"
        )
        tasks = {
            r["id"]: (r["status"], r["assignee"])
            for r in await conn.fetch("SELECT id, status, assignee FROM tasks")
        }
    finally:
        await conn.close()
    checks = []

    # creates
    by_marker: dict[str, list[int]] = {}
    for row in rows:
        by_marker.setdefault(row["marker"], []).append(row["id"])
    acked = {m: tid for m, tid in rec.creates.items() if tid is not None}
    lost = [m for m, tid in acked.items() if by_marker.get(m) != [tid]]
    twice = [m for m, ids in by_marker.items() if len(ids) > 1]
    unacked_kept = sum(1 for m, tid in rec.creates.items() if tid is None and m in by_marker)
    checks.append(
        Check(
            "acknowledged creates are in the database, each once",
            not lost and not twice,
            f"{len(acked)} acknowledged of {len(rec.creates)} sent, {len(lost)} lost, "
            f"{len(twice)} written twice ({unacked_kept} unanswered ones were written)",
        )
    )

    # transitions
    seen = {(r["kind"], r["task"], r["actor"]) for r in events}
    lost_moves = [a for a in rec.acked if a not in seen]
    per_kind = Counter((r["task"], r["kind"]) for r in events)
    doubled = [k for k, n in per_kind.items() if n > 1]
    checks.append(
        Check(
            "acknowledged transitions are in the history, none twice",
            not lost_moves and not doubled,
            f"{len(rec.acked)} acknowledged ({dict(Counter(k for k, _, _ in rec.acked))}), "
            f"{len(lost_moves)} lost, {len(doubled)} (task, kind) pairs written twice",
        )
    )

    # photos
    by_name = Counter(r["filename"] for r in photos)
    ids = {r["id"] for r in photos}
    acked_photos = {n: i for n, i in rec.attachments.items() if i is not None}
    lost_photos = [n for n, i in acked_photos.items() if i not in ids]
    twice_photos = [n for n, c in by_name.items() if c > 1]
    checks.append(
        Check(
            "acknowledged photos are stored, each once",
            not lost_photos and not twice_photos,
            f"{len(acked_photos)} acknowledged of {len(rec.attachments)} sent, "
            f"{len(lost_photos)} lost, {len(twice_photos)} stored twice",
        )
    )

    # accept races: one winner per task, across processes
    took = Counter(r["task"] for r in events if r["kind"] in ("accepted", "assigned"))
    raced = {t: tries for t, tries in rec.accept_tries.items() if len(tries) > 1}
    bad = []
    for task_id in set(rec.accept_tries) | set(rec.accept_wins):
        status, assignee = tasks.get(task_id, (None, None))
        winners = rec.accept_wins.get(task_id, set())
        if took[task_id] != (0 if status == "new" else 1) or not winners <= {assignee}:
            bad.append(task_id)
    checks.append(
        Check(
            "exactly one accept winner per task",
            not bad,
            f"{len(rec.accept_tries)} tasks accepted by engineers, {len(raced)} of them raced "
            f"by 2+ engineers ({sum(len(t) for t in raced.values())} engineers in those races); "
            f"{len(bad)} with other than one winner",
        )
    )

    # While a part is down the API answers 503 (database unavailable) and the proxy 502;
    # a 500 is a failure the product did not expect.
    internal = [s for s in rec.samples if s[3] >= 500 and s[3] not in (502, 503, 504)]
    checks.append(
        Check(
            "outages answer 502/503, never 500",
            not internal,
            f"{len(internal)} answers of 500 or other unexpected 5xx"
            + (
                f" (first at {internal[0][0]:.1f} s: {internal[0][2]} {internal[0][3]})"
                if internal
                else ""
            ),
            must=False,
        )
    )

    hangs = [s for s in rec.samples if s[3] == TIMEOUT]
    checks.append(
        Check(
            "no request outlived the client's timeout",
            not hangs,
            f"{len(hangs)} of {len(rec.samples)} requests timed out"
            + (f" (first at {hangs[0][0]:.1f} s: {hangs[0][2]})" if hangs else ""),
        )
    )
    return checks


async def notification_states(db_url: str) -> dict[str, int]:
    conn = await _connect(db_url)
    try:
        rows = await conn.fetch("SELECT status, count(*) AS n FROM notifications GROUP BY status")
    finally:
        await conn.close()
    return {r["status"]: r["n"] for r in rows}


async def wait_for_deliveries(db_url: str, timeout_s: float) -> tuple[dict[str, int], float]:
    """Until no notification is pending or being sent (or the timeout); returns the last
    counts and how long it took."""
    started = time.monotonic()
    while True:
        try:
            states = await notification_states(db_url)
        except (OSError, asyncpg.PostgresError):
            states = {"unreachable": 1}
        waiting = sum(n for s, n in states.items() if s not in ("sent", "failed", "skipped"))
        if not waiting or time.monotonic() - started > timeout_s:
            return states, time.monotonic() - started
        await asyncio.sleep(1)


async def verify_notifications(
    db_url: str, accepted: list[str], worker_kills: int, states: dict[str, int]
) -> list[Check]:
    conn = await _connect(db_url)
    try:
        rows = await conn.fetch(
            "SELECT status, message_id FROM notifications WHERE channel = 'email'"
        )
    finally:
        await conn.close()
    sent = {r["message_id"] for r in rows if r["status"] == "sent"}
    not_sent = sum(n for s, n in states.items() if s != "sent")
    received = Counter(accepted)
    missing = [m for m in sent if m not in received]
    strangers = [m for m in received if m not in sent]
    duplicates = sum(n - 1 for n in received.values() if n > 1)
    return [
        Check(
            "every notification delivered",
            not_sent == 0 and not missing and not strangers,
            f"{len(rows)} e-mails written, {len(sent)} sent, states {states}; "
            f"{len(missing)} sent but never received, {len(strangers)} received but not sent",
        ),
        Check(
            "duplicate e-mails no more than worker kills",
            duplicates <= worker_kills,
            f"{duplicates} duplicates, {worker_kills} worker kills",
        ),
    ]


# --- per-user state across processes -------------------------------------------------------


async def cross_process(
    urls: list[str], company: Company, db_url: str, max_failures: int, timeout_s: float
) -> list[Check]:
    """Straight to the API processes, not through the proxy: a session, an idempotent
    replay (one after the other, and two twins at once) and a login lockout made on one
    process must hold on another."""
    assert len(urls) >= 2
    a_url, b_url = urls[0], urls[1]
    c_url = urls[2] if len(urls) > 2 else urls[0]
    rec = Recorder()
    checks: list[Check] = []
    office, engineer = company.office[0], company.engineers[-1]
    cp = company.counterparties[0]
    async with (
        Api(a_url, rec, timeout_s) as a,
        Api(b_url, rec, timeout_s) as b,
        Api(c_url, rec, timeout_s) as c,
    ):
        # a session made on one process is known to the others, and ends on all of them
        status, data, _ = await a.once(
            "x",
            "POST",
            "/api/auth/login",
            body={"login": office.login, "password": company.password},
        )
        token = data["token"] if status == 200 else ""
        bearer = User(office.id, office.login, "office", token)
        me_b = (await b.once("x", "GET", "/api/me", bearer))[0]
        out = (await c.once("x", "POST", "/api/auth/logout", bearer))[0]
        me_a = (await a.once("x", "GET", "/api/me", bearer))[0]
        checks.append(
            Check(
                "a session from one process works on another and ends everywhere",
                status == 200 and me_b == 200 and out in (200, 204) and me_a == 401,
                f"login on A {status}, /api/me on B {me_b}, logout on C {out}, then on A {me_a}",
            )
        )

        # an idempotent create replayed on another process: the first answer, no new task
        def create_body(marker: str) -> dict[str, Any]:
            return {
                "template": "field_visit",
                "title": f"{cp['name']}: замена ФН",
                "description": f"scale:{marker}",
                "counterparty_id": cp["id"],
                "site_id": cp["site_id"],
            }

        marker, key = uuid.uuid4().hex, uuid.uuid4().hex
        first = await a.once(
            "x", "POST", "/api/tasks", office, create_body(marker), {"Idempotency-Key": key}
        )
        again = await b.once(
            "x", "POST", "/api/tasks", office, create_body(marker), {"Idempotency-Key": key}
        )
        twins_marker, twins_key = uuid.uuid4().hex, uuid.uuid4().hex
        twins = await asyncio.gather(
            *(
                api.once(
                    "x",
                    "POST",
                    "/api/tasks",
                    office,
                    create_body(twins_marker),
                    {"Idempotency-Key": twins_key},
                )
                for api in (a, b)
            )
        )
        task_id = first[1]["id"] if first[0] == 201 else None
        accept_key = uuid.uuid4().hex
        won = await b.once(
            "x",
            "POST",
            f"/api/tasks/{task_id}/accept",
            engineer,
            None,
            {"Idempotency-Key": accept_key},
        )
        replayed = await c.once(
            "x",
            "POST",
            f"/api/tasks/{task_id}/accept",
            engineer,
            None,
            {"Idempotency-Key": accept_key},
        )
        conn = await _connect(db_url)
        try:
            count = await conn.fetchval(
                "SELECT count(*) FROM tasks WHERE description = $1", f"scale:{marker}"
            )
            twin_count = await conn.fetchval(
                "SELECT count(*) FROM tasks WHERE description = $1", f"scale:{twins_marker}"
            )
            accepts = await conn.fetchval(
                "SELECT count(*) FROM task_events WHERE task = $1 AND kind = 'accepted'", task_id
            )
        finally:
            await conn.close()
        checks.append(
            Check(
                "an idempotent create replayed on another process",
                first[0] == again[0] == 201
                and first[1] == again[1]
                and again[2].get("idempotent-replayed") == "true"
                and count == 1,
                f"A answered {first[0]}, B {again[0]} (replayed: "
                f"{again[2].get('idempotent-replayed')}, same body: {first[1] == again[1]}); "
                f"tasks written: {count}",
            )
        )
        checks.append(
            Check(
                "two copies of one create at once on two processes",
                [t[0] for t in twins] == [201, 201]
                and twins[0][1]["id"] == twins[1][1]["id"]
                and twin_count == 1,
                f"answers {[t[0] for t in twins]}, task ids "
                f"{[t[1].get('id') if isinstance(t[1], dict) else None for t in twins]}; "
                f"tasks written: {twin_count}",
            )
        )
        checks.append(
            Check(
                "an accept replayed on another process",
                won[0] == replayed[0] == 200
                and won[1] == replayed[1]
                and replayed[2].get("idempotent-replayed") == "true"
                and accepts == 1,
                f"B answered {won[0]}, C {replayed[0]} (same body: {won[1] == replayed[1]}); "
                f"accepted events: {accepts}",
            )
        )

        # a lockout earned on one process holds on the others, and is lifted everywhere
        login = f"lockme{uuid.uuid4().hex[:6]}"
        body = {
            "login": login,
            "password": company.password,
            "full_name": "Lock Me",
            "surname": "Lockme",
            "roles": ["office"],
        }
        made = (await a.once("x", "POST", "/api/users", company.admin, body))[0]
        wrong = {"login": login, "password": "wrong-password"}
        right = {"login": login, "password": company.password}
        codes = [
            (await a.once("x", "POST", "/api/auth/login", body=wrong))[0]
            for _ in range(max_failures)
        ]
        on_b = await b.once("x", "POST", "/api/auth/login", body=right)
        on_c = await c.once("x", "POST", "/api/auth/login", body=right)
        listed = await b.once("x", "GET", "/api/auth/lockouts", company.admin)
        lifted = (await c.once("x", "DELETE", f"/api/auth/lockouts/{login}", company.admin))[0]
        after = (await a.once("x", "POST", "/api/auth/login", body=right))[0]
        keys = [i["key"] for i in listed[1]] if listed[0] == 200 else []
        checks.append(
            Check(
                "a login lockout made on one process holds on the others",
                made == 201
                and codes[-1] == 429
                and on_b[0] == 429
                and on_c[0] == 429
                and "retry-after" in {k.lower() for k in on_b[2]}
                and login in keys
                and lifted == 204
                and after == 200,
                f"{max_failures} wrong passwords on A: {codes}; the right one on B "
                f"{on_b[0]}, on C {on_c[0]}; listed on B: {login in keys}; lifted on C "
                f"{lifted}; then on A {after}",
            )
        )
    return checks
