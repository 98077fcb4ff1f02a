"""The client's side of a task: ratings (CSAT), sign-off of finished visits, rating links.

Portal requests themselves are tasks created by a client user (server/tasks/service.py
create_task: the portal channel, R3, the client's counterparty and R2); what clients may
see of tasks is server/tasks/service.py _restrict_to_visible.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from server import db
from server.accounts.tables import Membership, User
from server.clients.tables import Contact
from server.lib import clock, events
from server.lib.actor import Actor
from server.lib.errors import Conflict, Forbidden, InvalidInput, NotFound
from server.portal import tokens
from server.portal.events import ClientSignedOff, RatingGiven
from server.portal.schemas import CsatOut, CsatRow, SignOffOut
from server.portal.tables import SignOff, TaskRating
from server.settings import current as current_settings
from server.tasks import service as tasks
from server.tasks.schemas import TaskOut
from server.tasks.schemas import TaskRating as RatingOut
from server.tasks.statuses import Channel, Status
from server.tasks.tables import Task

# A rating may be changed (a second click, the portal) this long after it was first given.
CHANGE_WINDOW = dt.timedelta(days=7)
LOW_SCORE = 2
SIGN_OFF_STATUSES = (Status.DONE, Status.COMPLETED)


# --- whom the office side is -------------------------------------------------------------


async def office_audience(group_id: int | None) -> list[int]:
    """Who hears of a low rating or a disputed act: the office staff of the task's group
    (its manager), else every active office user and admin."""
    users = await User.select(User.id, User.roles, User.active).output(load_json=True)
    office = {u["id"] for u in users if u["active"] and {"office", "admin"} & set(u["roles"])}
    if group_id is not None:
        members = {r["user"] for r in await Membership.select().where(Membership.group == group_id)}
        managers = sorted(office & members)
        if managers:
            return managers
    return sorted(office)


# --- ratings -------------------------------------------------------------------------------


async def rating_of(task_id: int) -> RatingOut | None:
    row = await TaskRating.select().where(TaskRating.task == task_id).first()
    if row is None:
        return None
    return RatingOut(
        score=row["score"],
        comment=row["comment"],
        rated_at=db.stored_datetime(row["rated_at"]),
        by=row["rated_by"],
    )


# rating_of() as one PostgreSQL expression over the task row `t`, for answers built in one
# statement (tasks.extensions.read_in_sql); keep the two in step.
TASK_RATING_SQL = (
    "SELECT json_build_array(r.score, r.comment, r.rated_at, r.rated_by) "
    "FROM task_ratings r WHERE r.task = t.id LIMIT 1"
)


def apply_rating(task: TaskOut, value: list[Any] | None) -> None:
    if value is None:
        task.rating = None
        return
    score, comment, rated_at, by = value
    # json renders the time in the session's zone; asyncpg reads timestamps as UTC
    at = dt.datetime.fromisoformat(rated_at).astimezone(dt.UTC)
    task.rating = RatingOut(score=score, comment=comment, rated_at=at, by=by)


async def fill_rating(task: TaskOut) -> None:
    """Single-task reads carry the rating (tasks.extensions.on_single_read)."""
    task.rating = await rating_of(task.id)


async def _save_rating(
    task: TaskOut,
    score: int,
    comment: str | None,
    *,
    actor_id: int | None,
    user_id: int | None,
    contact_id: int | None,
    rated_by: str,
    channel: str,
) -> RatingOut:
    if task.status != Status.COMPLETED:
        raise Conflict(
            "portal.task_only_completed_task", task_number=task.number, status=task.status
        )
    now = clock.now()
    async with db.transaction():
        row = await TaskRating.select().where(TaskRating.task == task.id).first()
        if row is None:
            await TaskRating.insert(
                TaskRating(
                    task=task.id,
                    score=score,
                    comment=comment or "",
                    user=user_id,
                    contact=contact_id,
                    rated_by=rated_by,
                    first_rated_at=now,
                    rated_at=now,
                )
            )
        else:
            if now - db.stored_datetime(row["first_rated_at"]) > CHANGE_WINDOW:
                raise Conflict("portal.task_rated_more_than", task_number=task.number)
            values: dict[Any, Any] = {
                TaskRating.score: score,
                TaskRating.user: user_id,
                TaskRating.contact: contact_id,
                TaskRating.rated_by: rated_by,
                TaskRating.rated_at: now,
            }
            if comment is not None:
                values[TaskRating.comment] = comment
            await TaskRating.update(values).where(TaskRating.id == row["id"])
        saved = await rating_of(task.id)
        assert saved is not None
        await tasks.record_event(
            task.id,
            actor_id,
            "rated" if row is None else "rating_changed",
            channel,
            {"score": score, "comment": saved.comment, "by": rated_by},
            internal=False,
            at=now,
        )
        low = score <= LOW_SCORE
        await events.emit(
            RatingGiven(
                task_id=task.id,
                actor_id=actor_id,
                score=score,
                comment=saved.comment,
                notify=await office_audience(task.group.id if task.group else None) if low else [],
            )
        )
    return saved


async def rate_task(actor: Actor, task_id: int, score: int, comment: str | None) -> RatingOut:
    """POST /api/tasks/{id}/rating: a client of the task's company (or its chain's central
    office) rates it; anyone else is refused."""
    if not actor.is_client_only:
        raise Forbidden("portal.only_client_rates_work")
    if not await Task.exists().where(Task.id == task_id):
        raise NotFound("portal.task_not_found", task_id=task_id)
    try:
        task = await tasks.get_task(actor, task_id)
    except NotFound as exc:
        raise Forbidden("portal.task_not_your_company", task_id=task_id) from exc
    return await _save_rating(
        task,
        score,
        comment,
        actor_id=actor.id,
        user_id=actor.id,
        contact_id=None,
        rated_by=actor.full_name,
        channel=Channel.PORTAL,
    )


async def rate_by_link(token: str, task_id: int, score: int, comment: str | None) -> RatingOut:
    """GET/POST /rate/{task_id}/{token}: the requester of the "completed" mail, no login."""
    claim = tokens.verify(current_settings().secret_key, token, task_id, now=clock.now())
    task = await tasks.get_task_unchecked(task_id)
    rated_by = ""
    if claim.contact_id is not None:
        row = (
            await Contact.select(Contact.name, Contact.email)
            .where(Contact.id == claim.contact_id)
            .first()
        )
        rated_by = (row["name"] or row["email"]) if row else ""
    elif claim.user_id is not None:
        row = await User.select(User.full_name).where(User.id == claim.user_id).first()
        rated_by = row["full_name"] if row else ""
    return await _save_rating(
        task,
        score,
        comment,
        actor_id=claim.user_id,
        user_id=claim.user_id,
        contact_id=claim.contact_id,
        rated_by=rated_by,
        channel=Channel.EMAIL,
    )


def rating_link(task_id: int, *, user_id: int | None = None, contact_id: int | None = None) -> str:
    """The signed page of the "completed" mail; `?score=N` on it rates with one click."""
    s = current_settings()
    token = tokens.issue(
        s.secret_key, task_id, user_id=user_id, contact_id=contact_id, now=clock.now()
    )
    return f"{s.public_url.rstrip('/')}/rate/{task_id}/{token}"


# --- sign-off of a finished visit -----------------------------------------------------------


def _sign_off_out(row: dict[str, Any]) -> SignOffOut:
    return SignOffOut(
        task_id=row["task"],
        decision=row["decision"],
        comment=row["comment"],
        signer_name=row["signer_name"],
        at=db.stored_datetime(row["at"]),
    )


async def latest_sign_off(task_id: int) -> SignOffOut | None:
    row = (
        await SignOff.select()
        .where(SignOff.task == task_id)
        .order_by(SignOff.id, ascending=False)
        .first()
    )
    return _sign_off_out(row) if row else None


async def get_sign_off(actor: Actor, task_id: int) -> SignOffOut | None:
    await tasks.get_task(actor, task_id)  # 404 for tasks the caller cannot see
    return await latest_sign_off(task_id)


async def sign_off(actor: Actor, task_id: int, decision: str, comment: str) -> SignOffOut:
    """The client accepts the completion act of a finished visit (printed on the act), or
    disputes it with a comment: the status stays, the office is told and decides (return
    the visit to the engineer, a follow-up task) — a client never moves the state machine."""
    if not actor.is_client_only:
        raise Forbidden("portal.client_signs_off_visit")
    task = await tasks.get_task(actor, task_id)
    visit = await Task.select(Task.has_departure).where(Task.id == task_id).first()
    if not (visit and visit["has_departure"]):
        raise Conflict("portal.task_not_visit_no", task_number=task.number)
    if task.status not in SIGN_OFF_STATUSES:
        raise Conflict("portal.task_visit_signed_off", task_number=task.number, status=task.status)
    comment = comment.strip()
    if decision == "dispute" and not comment:
        raise InvalidInput("portal.say_what_wrong_work")
    outcome = "accepted" if decision == "accept" else "disputed"
    now = clock.now()
    async with db.transaction():
        await SignOff.insert(
            SignOff(
                task=task_id,
                decision=outcome,
                comment=comment,
                user=actor.id,
                signer_name=actor.full_name,
                at=now,
            )
        )
        await tasks.record_event(
            task_id,
            actor.id,
            f"client_{outcome}",
            Channel.PORTAL,
            {"comment": comment, "signer_name": actor.full_name},
            internal=False,
            at=now,
        )
        notify = []
        if outcome == "disputed":
            notify = await office_audience(task.group.id if task.group else None)
        await events.emit(
            ClientSignedOff(
                task_id=task_id,
                actor_id=actor.id,
                decision=outcome,
                comment=comment,
                notify=notify,
            )
        )
    result = await latest_sign_off(task_id)
    assert result is not None
    return result


# --- CSAT on the dashboard and in exports ----------------------------------------------------


def _rows(scores: dict[tuple[int | None, str], list[int]]) -> list[CsatRow]:
    out = [
        CsatRow(
            id=key[0],
            name=key[1],
            ratings=len(values),
            average=round(sum(values) / len(values), 2),
            satisfied_percent=round(100 * sum(v >= 4 for v in values) / len(values), 1),
        )
        for key, values in scores.items()
    ]
    return sorted(out, key=lambda r: (-r.ratings, r.name))


async def csat(start: dt.datetime, end: dt.datetime) -> CsatOut:
    """Ratings given in [start, end), by the task's engineer, group and counterparty."""
    t: Any = TaskRating.task
    rows = await TaskRating.select(
        TaskRating.score,
        t.assignee.id,
        t.assignee.full_name,
        t.group.id,
        t.group.name,
        t.counterparty.id,
        t.counterparty.name,
    ).where((TaskRating.rated_at >= start) & (TaskRating.rated_at < end))
    by: dict[str, dict[tuple[int | None, str], list[int]]] = {"e": {}, "g": {}, "c": {}}
    for r in rows:
        for key, ref, name in (
            ("e", "task.assignee.id", "task.assignee.full_name"),
            ("g", "task.group.id", "task.group.name"),
            ("c", "task.counterparty.id", "task.counterparty.name"),
        ):
            by[key].setdefault((r[ref], r[name] or "—"), []).append(r["score"])
    scores = [r["score"] for r in rows]
    return CsatOut(
        ratings=len(scores),
        average=round(sum(scores) / len(scores), 2) if scores else None,
        satisfied_percent=round(100 * sum(s >= 4 for s in scores) / len(scores), 1)
        if scores
        else None,
        by_engineer=_rows(by["e"]),
        by_group=_rows(by["g"]),
        by_counterparty=_rows(by["c"]),
    )


def check_link(token: str, task_id: int) -> None:
    """401/410 for a forged, misused or expired link, before showing its page."""
    tokens.verify(current_settings().secret_key, token, task_id, now=clock.now())
