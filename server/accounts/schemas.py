from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from server.lib.actor import RoleName as Role

Id = Annotated[int, msgspec.Meta(ge=1)]
FullName = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
Surname = Annotated[str, msgspec.Meta(min_length=1, max_length=150)]
Roles = Annotated[list[Role], msgspec.Meta(min_length=1)]
Email = Annotated[str, msgspec.Meta(max_length=320)]
Phone = Annotated[str, msgspec.Meta(max_length=50)]
Password = Annotated[str, msgspec.Meta(min_length=8, max_length=1024)]
UNSET = msgspec.UNSET
Unset = msgspec.UnsetType


class LoginIn(msgspec.Struct, forbid_unknown_fields=True):
    login: Annotated[str, msgspec.Meta(min_length=1, max_length=150)]
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]


class GroupIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=150)]


class GroupOut(msgspec.Struct):
    id: int
    name: str


class UserIn(msgspec.Struct, forbid_unknown_fields=True):
    login: Annotated[str, msgspec.Meta(min_length=1, max_length=150, pattern=r"^[\w.@+-]+$")]
    password: Password
    full_name: FullName
    surname: Surname
    roles: Roles
    group_ids: list[Id] = []
    email: Email | None = None
    phone: Phone | None = None
    telegram_user_id: Id | None = None
    counterparty_id: Id | None = None
    language: Literal["ru", "en"] = "ru"


class UserPatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The fields to change; null clears a nullable one. Roles are the admin's to change;
    `active: false` ends every session of the user at once."""

    full_name: FullName | Unset = UNSET
    surname: Surname | Unset = UNSET
    roles: Roles | Unset = UNSET
    group_ids: list[Id] | Unset = UNSET
    email: Email | Unset | None = UNSET
    phone: Phone | Unset | None = UNSET
    telegram_user_id: Id | Unset | None = UNSET
    counterparty_id: Id | Unset | None = UNSET
    language: Literal["ru", "en"] | Unset = UNSET
    active: bool | Unset = UNSET


class PasswordIn(msgspec.Struct, forbid_unknown_fields=True):
    """An admin sets a user's password."""

    password: Password


class MyPasswordIn(msgspec.Struct, forbid_unknown_fields=True):
    old_password: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
    new_password: Password


class UserOut(msgspec.Struct):
    id: int
    login: str
    full_name: str
    surname: str
    roles: list[str]
    group_ids: list[int] = []
    email: str | None = None
    phone: str | None = None
    telegram_user_id: int | None = None
    counterparty_id: int | None = None
    language: str = "ru"
    active: bool = True


class LoginOut(msgspec.Struct):
    token: str
    user: UserOut
