from piccolo.columns import (
    JSON,
    BigInt,
    Boolean,
    ForeignKey,
    OnDelete,
    Serial,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table

from server.clients.tables import Counterparty


class Group(Table, tablename="work_groups"):
    id: Serial
    name = Varchar(length=150, unique=True)


class User(Table, tablename="users"):
    id: Serial
    login = Varchar(length=150, unique=True)
    password_hash = Varchar(length=255)
    full_name = Varchar(length=255)
    surname = Varchar(length=150)
    # Lower-cased surname: R5 e-mail routing ("*Surname") looks engineers up by it.
    surname_key = Varchar(length=150, index=True)
    email = Varchar(length=320, null=True, default=None, index=True)
    phone = Varchar(length=50, null=True, default=None)
    telegram_user_id = BigInt(null=True, default=None, unique=True)
    language = Varchar(length=5, default="ru")
    roles = JSON(default=[])
    counterparty = ForeignKey(Counterparty, null=True, on_delete=OnDelete.restrict)
    active = Boolean(default=True)
    created_at = Timestamptz()


class Membership(Table, tablename="group_memberships"):
    id: Serial
    user = ForeignKey(User, on_delete=OnDelete.cascade, index=True)
    group = ForeignKey(Group, on_delete=OnDelete.cascade, index=True)


class AuthToken(Table, tablename="auth_tokens"):
    """Bearer/session tokens; only a SHA-256 of the token is stored."""

    id: Serial
    token_hash = Varchar(length=64, unique=True)
    user = ForeignKey(User, on_delete=OnDelete.cascade, index=True)
    created_at = Timestamptz()
    expires_at = Timestamptz()
