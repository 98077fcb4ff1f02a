from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie

from server.accounts import service
from server.accounts.auth import SESSION_COOKIE, token_from
from server.accounts.schemas import GroupIn, GroupOut, LoginIn, LoginOut, UserIn, UserOut
from server.lib.actor import Actor
from server.lib.guards import DIRECTORY_WRITERS, EMPLOYEES, PUBLIC
from server.settings import Settings


class AuthController(Controller):
    path = "/api"
    tags = ["auth"]

    @post("/auth/login", status_code=200, opt=PUBLIC)
    async def login(self, data: LoginIn, settings: Settings) -> Response[LoginOut]:
        token, user = await service.login(data.login, data.password, settings.token_ttl_hours)
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
    async def list_users(self, group: int | None = None, role: str | None = None) -> list[UserOut]:
        return await service.list_users(group_id=group, role=role)

    @get("/users/{user_id:int}", guards=[EMPLOYEES])
    async def get_user(self, user_id: int) -> UserOut:
        return await service.get_user(user_id)
