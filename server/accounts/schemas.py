from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from server.lib.actor import RoleName as Role

Id = Annotated[int, msgspec.Meta(ge=1)]


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
    password: Annotated[str, msgspec.Meta(min_length=8, max_length=1024)]
    full_name: Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
    surname: Annotated[str, msgspec.Meta(min_length=1, max_length=150)]
    roles: Annotated[list[Role], msgspec.Meta(min_length=1)]
    group_ids: list[Id] = []
    email: Annotated[str, msgspec.Meta(max_length=320)] | None = None
    phone: Annotated[str, msgspec.Meta(max_length=50)] | None = None
    telegram_user_id: Id | None = None
    counterparty_id: Id | None = None
    language: Literal["ru", "en"] = "ru"


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


class LoginOut(msgspec.Struct):
    token: str
    user: UserOut
