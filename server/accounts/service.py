"""Users, groups and sessions."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from typing import Any, cast

from server import db
from server.accounts import session_cache
from server.accounts.schemas import GroupOut, UserIn, UserOut, UserPatch
from server.accounts.tables import AuthToken, Group, Membership, User
from server.clients import service as clients
from server.clients.tables import Counterparty
from server.lib import clock, passwords, ratelimit
from server.lib.actor import EMPLOYEE_ROLES, Actor
from server.lib.addresses import is_email
from server.lib.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from server.lib.patches import named_fields


class AuthFailed(DomainError):
    status_code = 401


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_group(name: str) -> GroupOut:
    name = name.strip()
    if not name:
        raise InvalidInput("account.group_name_must_not")
    async with db.transaction():
        if await Group.exists().where(Group.name == name):
            raise Conflict("account.group_named_already_exists", name=name)
        row = Group(name=name)
        await row.save()
    return GroupOut(id=row.id, name=row.name)


async def list_groups() -> list[GroupOut]:
    rows = await Group.select(Group.id, Group.name).order_by(Group.name)
    return [GroupOut(id=r["id"], name=r["name"]) for r in rows]


async def group_id_by_name(name: str) -> int:
    row = await Group.select(Group.id).where(Group.name == name).first()
    if row is None:
        raise NotFound("account.no_group_named", name=name)
    return int(row["id"])


async def create_user(data: UserIn, *, created_by: Actor | None = None) -> UserOut:
    """Create an account. `created_by` None means the CLI (trusted operator)."""
    roles = sorted(set(data.roles))
    if created_by is not None and "admin" in roles and not created_by.has_role("admin"):
        raise Forbidden("account.only_admin_can_create")
    if "client" in roles and data.counterparty_id is None:
        raise InvalidInput("account.user_role_client_needs")
    if "client" in roles and set(roles) & EMPLOYEE_ROLES:
        raise InvalidInput("account.role_client_cannot_combined")
    email = data.email.strip().lower() if data.email else None
    if email is not None and not is_email(email):
        raise InvalidInput("account.not_e_mail_address", email=data.email)
    surname = data.surname.strip()
    if not surname:
        raise InvalidInput("account.surname_must_not_blank")
    async with db.transaction():
        if await User.exists().where(User.login == data.login):
            raise Conflict("account.login_already_taken", data_login=data.login)
        if data.telegram_user_id is not None and await User.exists().where(
            User.telegram_user_id == data.telegram_user_id
        ):
            raise Conflict(
                "account.telegram_user_linked_another", telegram_user_id=data.telegram_user_id
            )
        if data.counterparty_id is not None and not await Counterparty.exists().where(
            Counterparty.id == data.counterparty_id
        ):
            raise InvalidInput(
                "account.counterparty_id_no_such", counterparty_id=data.counterparty_id
            )
        group_ids = sorted(set(data.group_ids))
        if group_ids:
            found = {r["id"] for r in await Group.select(Group.id).where(Group.id.is_in(group_ids))}
            missing = [g for g in group_ids if g not in found]
            if missing:
                raise InvalidInput("account.group_ids_no_such", missing=missing)
        user = User(
            login=data.login,
            password_hash=await passwords.hash_password(data.password),
            full_name=data.full_name.strip(),
            surname=surname,
            surname_key=surname.lower().replace("ё", "е"),
            email=email,
            phone=data.phone,
            telegram_user_id=data.telegram_user_id,
            language=data.language,
            roles=roles,
            counterparty=data.counterparty_id,
            active=True,
            created_at=clock.now(),
        )
        await user.save()
        if group_ids:
            await Membership.insert(*[Membership(user=user.id, group=g) for g in group_ids])
    return await get_user(user.id)


def _user_out(row: dict[str, Any], group_ids: list[int]) -> UserOut:
    return UserOut(
        id=row["id"],
        login=row["login"],
        full_name=row["full_name"],
        surname=row["surname"],
        roles=list(row["roles"] or []),
        group_ids=group_ids,
        email=row["email"],
        phone=row["phone"],
        telegram_user_id=row["telegram_user_id"],
        counterparty_id=row["counterparty"],
        language=row["language"],
        active=bool(row["active"]),
    )


_USER_COLUMNS = (
    User.id,
    User.login,
    User.full_name,
    User.surname,
    User.roles,
    User.email,
    User.phone,
    User.telegram_user_id,
    User.counterparty,
    User.language,
    User.active,
)


async def _memberships(user_ids: list[int]) -> dict[int, list[int]]:
    result: dict[int, list[int]] = {u: [] for u in user_ids}
    if user_ids:
        rows = await Membership.select(Membership.user, Membership.group).where(
            Membership.user.is_in(user_ids)
        )
        for r in rows:
            result[r["user"]].append(r["group"])
    return {u: sorted(g) for u, g in result.items()}


# Hot reads other domains make on every create (feed, notifications: issue 21), as
# written SQL; roles come back as JSON text on both engines.
_GROUP_MEMBERS = (
    'SELECT u.id, u.roles, u.active FROM group_memberships m JOIN users u ON u.id = m."user" '
    'WHERE m."group" = {} ORDER BY m.id'
)
_FULL_NAME = "SELECT full_name FROM users WHERE id = {}"


def roles_of(value: Any) -> list[str]:
    """A users.roles value as raw SQL returns it (JSON text, or already decoded)."""
    if isinstance(value, str | bytes):
        value = json.loads(value)
    return list(value or [])


async def group_members(group_id: int) -> list[tuple[int, list[str], bool]]:
    """(user id, roles, active) of a group's members, in the order they joined."""
    rows = await db.fetch_rows(_GROUP_MEMBERS, group_id)
    return [(int(r["id"]), roles_of(r["roles"]), bool(r["active"])) for r in rows]


async def full_name(user_id: int) -> str:
    rows = await db.fetch_rows(_FULL_NAME, user_id)
    return str(rows[0]["full_name"]) if rows else ""


async def get_user(user_id: int) -> UserOut:
    row = await User.select(*_USER_COLUMNS).where(User.id == user_id).first().output(load_json=True)
    if row is None:
        raise NotFound("account.user_not_found", user_id=user_id)
    groups = await _memberships([user_id])
    return _user_out(row, groups[user_id])


async def list_users(
    *,
    group_id: int | None = None,
    role: str | None = None,
    archived: bool | None = False,
    limit: int = 500,
) -> list[UserOut]:
    """Active users (the pickers); deactivated ones with `archived=True`, all with None."""
    query = User.select(*_USER_COLUMNS).order_by(User.full_name).limit(limit).output(load_json=True)
    if archived is not None:
        query = query.where(User.active.eq(not archived))
    if group_id is not None:
        query = query.where(
            User.id.is_in(Membership.select(Membership.user).where(Membership.group == group_id))
        )
    rows = await query
    if role is not None:
        rows = [r for r in rows if role in (r["roles"] or [])]
    groups = await _memberships([r["id"] for r in rows])
    return [_user_out(r, groups[r["id"]]) for r in rows]


# --- editing (issue 13) ----------------------------------------------------------------------


def _check_roles(roles: list[str], counterparty_id: int | None) -> None:
    if "client" in roles and counterparty_id is None:
        raise InvalidInput("account.user_role_client_needs")
    if "client" in roles and set(roles) & EMPLOYEE_ROLES:
        raise InvalidInput("account.role_client_cannot_combined")


def _blank(field: str, value: str) -> str:
    value = value.strip()
    if not value:
        raise InvalidInput("account.must_not_blank", field=field)
    return value


async def _locked_user(user_id: int) -> dict[str, Any]:
    query = User.select().where(User.id == user_id)
    if not db.is_sqlite():
        query = query.lock_rows()
    row = await query.first().output(load_json=True)
    if row is None:
        raise NotFound("account.user_not_found", user_id=user_id)
    return cast("dict[str, Any]", row)


async def _require_another_admin(user: dict[str, Any]) -> None:
    """Someone must stay able to manage the others."""
    rows = (
        await User.select(User.roles)
        .where(User.active.eq(True) & (User.id != user["id"]))
        .output(load_json=True)
    )
    if not any("admin" in (r["roles"] or []) for r in rows):
        raise Conflict("account.last_active_admin_make", full_name=user["full_name"])


async def update_user(actor: Actor, user_id: int, patch: UserPatch) -> UserOut:
    """PATCH /api/users/{id}, all or nothing. Only admins change roles or edit admins;
    office staff edit the other fields of everyone else. `active: false` deletes every
    token of the user in the same transaction: their sessions end at once."""
    given = named_fields(patch)
    if "roles" in given and not actor.has_role("admin"):
        raise Forbidden("account.only_admin_changes_roles")
    async with db.transaction():
        row = await _locked_user(user_id)
        roles_before = list(row["roles"] or [])
        if "admin" in roles_before and not actor.has_role("admin"):
            raise Forbidden("account.admin_only_admin_edits", full_name=row["full_name"])
        changes: dict[Any, Any] = {}
        if "full_name" in given:
            changes[User.full_name] = _blank("full_name", given["full_name"])
        if "surname" in given:
            surname = changes[User.surname] = _blank("surname", given["surname"])
            changes[User.surname_key] = surname.lower().replace("ё", "е")
        roles = sorted(set(given.get("roles", roles_before)))
        counterparty_id = given.get("counterparty_id", row["counterparty"])
        _check_roles(roles, counterparty_id)
        if "roles" in given:
            changes[User.roles] = roles
        if "counterparty_id" in given:
            if counterparty_id is not None:
                await clients.require_counterparty(counterparty_id)
            changes[User.counterparty] = counterparty_id
        if "email" in given:
            email = given["email"].strip().lower() if given["email"] else None
            if email is not None and not is_email(email):
                raise InvalidInput("account.email_not_e_mail", email=given["email"])
            changes[User.email] = email
        if "phone" in given:
            changes[User.phone] = (given["phone"] or "").strip() or None
        if "telegram_user_id" in given:
            telegram_id = given["telegram_user_id"]
            if telegram_id is not None and await User.exists().where(
                (User.telegram_user_id == telegram_id) & (User.id != user_id)
            ):
                raise Conflict("account.telegram_user_id_telegram", telegram_id=telegram_id)
            changes[User.telegram_user_id] = telegram_id
        if "language" in given:
            changes[User.language] = given["language"]
        active = given.get("active", bool(row["active"]))
        if "active" in given:
            changes[User.active] = active
        if "admin" in roles_before and row["active"] and ("admin" not in roles or not active):
            await _require_another_admin(row)
        if "group_ids" in given:
            await _replace_groups(user_id, sorted(set(given["group_ids"])))
        if changes:
            await User.update(changes).where(User.id == user_id)
        if not active:
            await AuthToken.delete().where(AuthToken.user == user_id)
        # Roles, groups, counterparty, language or the account itself: who the user's
        # tokens stand for changed.
        await session_cache.changed(user_id)
    return await get_user(user_id)


async def _replace_groups(user_id: int, group_ids: list[int]) -> None:
    found = (
        {r["id"] for r in await Group.select(Group.id).where(Group.id.is_in(group_ids))}
        if group_ids
        else set()
    )
    missing = [g for g in group_ids if g not in found]
    if missing:
        raise InvalidInput("account.group_ids_no_such", missing=missing)
    await Membership.delete().where(Membership.user == user_id)
    if group_ids:
        await Membership.insert(*[Membership(user=user_id, group=g) for g in group_ids])


async def _end_sessions(user_id: int, *, keep: str | None = None) -> None:
    """Delete the user's tokens; `keep` (the caller's own token) survives."""
    query = AuthToken.delete().where(AuthToken.user == user_id)
    if keep is not None:
        query = query.where(AuthToken.token_hash != _token_hash(keep))
    await query
    await session_cache.changed(user_id)


async def set_password(user_id: int, password: str, *, keep_token: str | None = None) -> None:
    """An admin sets a user's password; every session of the user ends (the admin's own
    current one survives when they set their own)."""
    password_hash = await passwords.hash_password(password)
    async with db.transaction():
        updated = (
            await User.update({User.password_hash: password_hash})
            .where(User.id == user_id)
            .returning(User.id)
        )
        if not updated:
            raise NotFound("account.user_not_found", user_id=user_id)
        await _end_sessions(user_id, keep=keep_token)


async def change_own_password(actor: Actor, token: str, old: str, new: str) -> None:
    """The caller changes their password: this session stays, every other one ends."""
    row = await User.select(User.password_hash).where(User.id == actor.id).first()
    # argon2 off the event loop, like login (server/lib/passwords.py)
    valid = await passwords.verify_password(row["password_hash"] if row else None, old)
    if not valid:
        raise Forbidden("account.old_password_not_your")
    password_hash = await passwords.hash_password(new)
    async with db.transaction():
        await User.update({User.password_hash: password_hash}).where(User.id == actor.id)
        await _end_sessions(actor.id, keep=token)


async def login(
    login: str, password: str, ttl_hours: int, *, address: str | None = None
) -> tuple[str, UserOut]:
    """A session for the right password. Failures count per login and per client
    `address`; while either is locked out the answer is 429 (server/lib/ratelimit.py).
    The hash is checked off the event loop; unknown logins cost the same as known ones."""
    throttle = ratelimit.login_throttle()
    await throttle.check(login, address)
    row = (
        await User.select(User.id, User.password_hash, User.active)
        .where(User.login == login)
        .first()
    )
    stored = row["password_hash"] if row is not None and row["active"] else None
    valid = await passwords.verify_password(stored, password)
    if not valid or row is None:
        await throttle.failed(login, address)
        raise AuthFailed("account.wrong_login_password")
    await throttle.succeeded(login)
    token = secrets.token_urlsafe(32)
    now = clock.now()
    async with db.transaction():
        await AuthToken.insert(
            AuthToken(
                token_hash=_token_hash(token),
                user=row["id"],
                created_at=now,
                expires_at=now + dt.timedelta(hours=ttl_hours),
            )
        )
    return token, await get_user(row["id"])


async def logout(token: str) -> None:
    async with db.transaction():
        rows = (
            await AuthToken.delete()
            .where(AuthToken.token_hash == _token_hash(token))
            .returning(AuthToken.user)
        )
        for row in rows:
            await session_cache.changed(row["user"])


# The token lookup runs on every request: one pre-written query, no ORM compilation.
# The caller and their groups in one round trip (every authenticated request runs this).
_TOKEN_SQL = (
    "SELECT u.id, u.login, u.full_name, u.roles, u.counterparty, u.language, t.expires_at, "
    '{groups} AS groups FROM auth_tokens t JOIN users u ON u.id = t."user" '
    "WHERE t.token_hash = {{}} AND u.active"
)
_TOKEN_SQL_POSTGRES = _TOKEN_SQL.format(
    groups='ARRAY(SELECT m."group" FROM group_memberships m WHERE m."user" = u.id)'
)
_TOKEN_SQL_SQLITE = _TOKEN_SQL.format(
    groups='(SELECT group_concat(m."group") FROM group_memberships m WHERE m."user" = u.id)'
)


async def actor_for_token(token: str) -> Actor | None:
    token_hash = _token_hash(token)
    cache = session_cache.current()
    generation = 0
    if cache is not None:
        cached = cache.get(token_hash)
        if cached is not None:
            return cached
        generation = cache.generation
    sql = _TOKEN_SQL_SQLITE if db.is_sqlite() else _TOKEN_SQL_POSTGRES
    rows = await db.fetch_rows(sql, token_hash)
    now = clock.now()
    if not rows or (expires_at := _aware(rows[0]["expires_at"])) <= now:
        return None
    row = dict(rows[0])
    groups = row["groups"]
    if isinstance(groups, str):  # SQLite's group_concat
        groups = [int(g) for g in groups.split(",")]
    actor = _actor(row, list(groups or []))
    if cache is not None:
        cache.put(token_hash, actor, generation, (expires_at - now).total_seconds())
    return actor


def _aware(value: dt.datetime | str) -> dt.datetime:
    moment: dt.datetime = db.stored_datetime(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


async def actor_for_user(user_id: int) -> Actor | None:
    row = (
        await User.select(
            User.id,
            User.login,
            User.full_name,
            User.roles,
            User.counterparty,
            User.language,
            User.active,
        )
        .where(User.id == user_id)
        .first()
        .output(load_json=True)
    )
    if row is None or not row["active"]:
        return None
    return _actor(row, (await _memberships([row["id"]]))[row["id"]])


def _actor(row: dict[str, Any], group_ids: list[int]) -> Actor:
    """The caller as services see it, from a users row (roles as JSON text or a list)."""
    roles = row["roles"]
    return Actor(
        id=row["id"],
        login=row["login"],
        full_name=row["full_name"],
        roles=frozenset(json.loads(roles) if isinstance(roles, str) else roles or []),
        group_ids=frozenset(group_ids),
        counterparty_id=row["counterparty"],
        language=row.get("language") or "ru",
    )
