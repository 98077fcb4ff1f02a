"""Users, groups and sessions."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from server import db
from server.accounts.schemas import GroupOut, UserIn, UserOut
from server.accounts.tables import AuthToken, Group, Membership, User
from server.clients.tables import Counterparty
from server.lib import clock
from server.lib.actor import EMPLOYEE_ROLES, Actor
from server.lib.addresses import is_email
from server.lib.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound

_hasher = PasswordHasher()


class AuthFailed(DomainError):
    status_code = 401


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_group(name: str) -> GroupOut:
    name = name.strip()
    if not name:
        raise InvalidInput("group name must not be blank")
    async with db.transaction():
        if await Group.exists().where(Group.name == name):
            raise Conflict(f"a group named {name!r} already exists")
        row = Group(name=name)
        await row.save()
    return GroupOut(id=row.id, name=row.name)


async def list_groups() -> list[GroupOut]:
    rows = await Group.select(Group.id, Group.name).order_by(Group.name)
    return [GroupOut(id=r["id"], name=r["name"]) for r in rows]


async def group_id_by_name(name: str) -> int:
    row = await Group.select(Group.id).where(Group.name == name).first()
    if row is None:
        raise NotFound(f"no group named {name!r}")
    return int(row["id"])


async def create_user(data: UserIn, *, created_by: Actor | None = None) -> UserOut:
    """Create an account. `created_by` None means the CLI (trusted operator)."""
    roles = sorted(set(data.roles))
    if created_by is not None and "admin" in roles and not created_by.has_role("admin"):
        raise Forbidden("only an admin can create another admin")
    if "client" in roles and data.counterparty_id is None:
        raise InvalidInput("a user with role 'client' needs counterparty_id (their company)")
    if "client" in roles and set(roles) & EMPLOYEE_ROLES:
        raise InvalidInput("role 'client' cannot be combined with employee roles")
    email = data.email.strip().lower() if data.email else None
    if email is not None and not is_email(email):
        raise InvalidInput(f"{data.email!r} is not an e-mail address")
    surname = data.surname.strip()
    if not surname:
        raise InvalidInput("surname must not be blank")
    async with db.transaction():
        if await User.exists().where(User.login == data.login):
            raise Conflict(f"login {data.login!r} is already taken")
        if data.telegram_user_id is not None and await User.exists().where(
            User.telegram_user_id == data.telegram_user_id
        ):
            raise Conflict(f"Telegram user {data.telegram_user_id} is linked to another account")
        if data.counterparty_id is not None and not await Counterparty.exists().where(
            Counterparty.id == data.counterparty_id
        ):
            raise InvalidInput(f"counterparty_id {data.counterparty_id}: no such counterparty")
        group_ids = sorted(set(data.group_ids))
        if group_ids:
            found = {r["id"] for r in await Group.select(Group.id).where(Group.id.is_in(group_ids))}
            missing = [g for g in group_ids if g not in found]
            if missing:
                raise InvalidInput(f"group_ids: no such group {missing}")
        user = User(
            login=data.login,
            password_hash=hash_password(data.password),
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


async def get_user(user_id: int) -> UserOut:
    row = await User.select(*_USER_COLUMNS).where(User.id == user_id).first().output(load_json=True)
    if row is None:
        raise NotFound(f"user {user_id} not found")
    groups = await _memberships([user_id])
    return _user_out(row, groups[user_id])


async def list_users(
    *, group_id: int | None = None, role: str | None = None, limit: int = 500
) -> list[UserOut]:
    query = (
        User.select(*_USER_COLUMNS)
        .where(User.active.eq(True))
        .order_by(User.full_name)
        .limit(limit)
        .output(load_json=True)
    )
    if group_id is not None:
        query = query.where(
            User.id.is_in(Membership.select(Membership.user).where(Membership.group == group_id))
        )
    rows = await query
    if role is not None:
        rows = [r for r in rows if role in (r["roles"] or [])]
    groups = await _memberships([r["id"] for r in rows])
    return [_user_out(r, groups[r["id"]]) for r in rows]


async def login(login: str, password: str, ttl_hours: int) -> tuple[str, UserOut]:
    row = (
        await User.select(User.id, User.password_hash, User.active)
        .where(User.login == login)
        .first()
    )
    valid = False
    if row is not None and row["active"]:
        try:
            valid = _hasher.verify(row["password_hash"], password)
        except (VerificationError, InvalidHashError):
            valid = False
    else:
        # Spend the same time on unknown logins, so timing does not reveal which exist.
        _hasher.hash(password)
    if not valid or row is None:
        raise AuthFailed("wrong login or password")
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
        await AuthToken.delete().where(AuthToken.token_hash == _token_hash(token))


# The token lookup runs on every request: one pre-written query, no ORM compilation.
_TOKEN_SQL = (
    "SELECT u.id, u.login, u.full_name, u.roles, u.counterparty, t.expires_at "
    'FROM auth_tokens t JOIN users u ON u.id = t."user" '
    "WHERE t.token_hash = {} AND u.active"
)
_GROUPS_SQL = 'SELECT "group" FROM group_memberships WHERE "user" = {}'


async def actor_for_token(token: str) -> Actor | None:
    rows = await AuthToken.raw(_TOKEN_SQL, _token_hash(token))
    if not rows or _aware(rows[0]["expires_at"]) <= clock.now():
        return None
    row = rows[0]
    groups = await Membership.raw(_GROUPS_SQL, row["id"])
    return _actor(row, [r["group"] for r in groups])


def _aware(value: dt.datetime | str) -> dt.datetime:
    moment: dt.datetime = db.stored_datetime(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


async def actor_for_user(user_id: int) -> Actor | None:
    row = (
        await User.select(
            User.id, User.login, User.full_name, User.roles, User.counterparty, User.active
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
    )
