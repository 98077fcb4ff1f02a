"""Admins see and lift login lockouts (429 after repeated failed logins)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, get

from server.accounts import lockouts
from server.accounts.lockouts import LockoutOut
from server.lib.actor import Actor
from server.lib.guards import ADMIN


class LockoutsController(Controller):
    path = "/api/auth/lockouts"
    # Litestar declares these as class-level lists (as in every controller.py).
    tags = ["auth"]  # noqa: RUF012
    guards = [ADMIN]  # noqa: RUF012

    @get("/")
    async def list_lockouts(self) -> list[LockoutOut]:
        """Logins and client addresses that are locked out now, the latest lock first."""
        return await lockouts.list_lockouts()

    @delete("/{login:str}", status_code=204)
    async def lift_login(self, login: str, request: Request[Actor, Any, Any]) -> None:
        await lockouts.lift_lockout(request.user, "login", login)

    @delete("/address/{address:str}", status_code=204)
    async def lift_address(self, address: str, request: Request[Actor, Any, Any]) -> None:
        await lockouts.lift_lockout(request.user, "address", address)
