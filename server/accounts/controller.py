from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, patch, post
from litestar.datastructures import Cookie

from server.accounts import service
from server.accounts.auth import SESSION_COOKIE, token_from
from server.accounts.schemas import (
    GroupIn,
    GroupOut,
    LoginIn,
    LoginOut,
    MyPasswordIn,
    PasswordIn,
    UserIn,
    UserOut,
    UserPatch,
)
from server.lib.actor import Actor
from server.lib.archived import archived_filter
from server.lib.guards import ADMIN, DIRECTORY_WRITERS, EMPLOYEES, PUBLIC
from server.settings import Settings


class AuthController(Controller):
    path = "/api"
    tags = ["auth"]

    @post("/auth/login", status_code=200, opt=PUBLIC)
    async def login(
        self, data: LoginIn, settings: Settings, request: Request[Any, Any, Any]
    ) -> Response[LoginOut]:
        token, user = await service.login(
            data.login,
            data.password,
            settings.token_ttl_hours,
            address=request.client.host if request.client else None,
        )
        return Response(
            LoginOut(token=token, user=user),
            cookies=[
                Cookie(
                    key=SESSION_COOKIE,
                    value=token,
                    httponly=True,
                    samesite="lax",
                    secure=settings.public_url.startswith("https://"),
                    max_age=settings.token_ttl_hours * 3600,
                    path="/",
                )
            ],
        )

    @post("/auth/logout", status_code=204)
    async def logout(self, request: Request[Actor, str, Any]) -> Response[None]:
        token = token_from(request)
        if token:
            await service.logout(token)
        expired = Cookie(key=SESSION_COOKIE, value="", max_age=0, path="/")
        return Response(None, status_code=204, cookies=[expired])

    @get("/me")
    async def me(self, request: Request[Actor, str, Any]) -> UserOut:
        return await service.get_user(request.user.id)

    @post("/me/password", status_code=204)
    async def change_my_password(
        self, data: MyPasswordIn, request: Request[Actor, str, Any]
    ) -> None:
        """This session stays; every other session of yours ends."""
        await service.change_own_password(
            request.user, request.auth, data.old_password, data.new_password
        )


class DirectoryAccountsController(Controller):
    path = "/api"
    tags = ["directory"]

    @post("/groups", guards=[DIRECTORY_WRITERS])
    async def create_group(self, data: GroupIn) -> GroupOut:
        return await service.create_group(data.name)

    @get("/groups", guards=[EMPLOYEES])
    async def list_groups(self) -> list[GroupOut]:
        return await service.list_groups()

    @post("/users", guards=[DIRECTORY_WRITERS])
    async def create_user(self, data: UserIn, request: Request[Actor, str, Any]) -> UserOut:
        return await service.create_user(data, created_by=request.user)

    @get("/users", guards=[EMPLOYEES])
    async def list_users(
        self, group: int | None = None, role: str | None = None, archived: str = "false"
    ) -> list[UserOut]:
        """Active users; `archived=true` the deactivated ones, `archived=all` both."""
        return await service.list_users(
            group_id=group, role=role, archived=archived_filter(archived)
        )

    @get("/users/{user_id:int}", guards=[EMPLOYEES])
    async def get_user(self, user_id: int) -> UserOut:
        return await service.get_user(user_id)

    @patch("/users/{user_id:int}", guards=[DIRECTORY_WRITERS])
    async def update_user(
        self, user_id: int, data: UserPatch, request: Request[Actor, str, Any]
    ) -> UserOut:
        """Roles: admins only. `active: false` ends the user's sessions at once; their open
        tasks are at GET /api/users/{id}/open-tasks."""
        return await service.update_user(request.user, user_id, data)

    @post("/users/{user_id:int}/password", guards=[ADMIN], status_code=204)
    async def set_password(
        self, user_id: int, data: PasswordIn, request: Request[Actor, str, Any]
    ) -> None:
        """Every session of the user ends (yours stays if you set your own)."""
        keep = request.auth if user_id == request.user.id else None
        await service.set_password(user_id, data.password, keep_token=keep)
