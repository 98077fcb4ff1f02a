"""The authenticated caller and the roles, as every domain sees them."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

import msgspec


class Role(StrEnum):
    ADMIN = "admin"
    OFFICE = "office"
    ENGINEER = "engineer"
    CHECKER = "checker"
    CLIENT = "client"


RoleName = Literal["admin", "office", "engineer", "checker", "client"]
ROLES: tuple[Role, ...] = tuple(Role)
EMPLOYEE_ROLES: frozenset[str] = frozenset({Role.ADMIN, Role.OFFICE, Role.ENGINEER, Role.CHECKER})
DISPATCHER_ROLES: tuple[Role, ...] = (Role.ADMIN, Role.OFFICE)


class Actor(msgspec.Struct, frozen=True):
    """The authenticated caller, as services see it."""

    id: int
    login: str
    full_name: str
    roles: frozenset[str]
    group_ids: frozenset[int]
    counterparty_id: int | None
    language: str = "ru"  # ru or en: the language errors and messages are shown in

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def is_client_only(self) -> bool:
        return not self.roles & EMPLOYEE_ROLES

    @property
    def is_dispatcher(self) -> bool:
        return self.has_role(*DISPATCHER_ROLES)
