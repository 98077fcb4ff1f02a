from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post

from server.feed import service
from server.lib.actor import Actor
from server.lib.guards import EMPLOYEES


class FeedController(Controller):
    path = "/api/me/feed"
    tags = ["feed"]
    guards = [EMPLOYEES]

    @get("/")
    async def feed(
        self, request: Request[Actor, str, Any], limit: int = 50, unread: bool = False
    ) -> service.FeedOut:
        """My feed, newest first, and how many lines I have not read."""
        return await service.feed(request.user.id, limit, unread)

    @post("/read", status_code=200)
    async def mark_read(
        self, data: service.MarkReadIn, request: Request[Actor, str, Any]
    ) -> service.MarkReadOut:
        """Mark lines read: `ids`, or every line when `ids` is absent."""
        return await service.mark_read(request.user.id, data)
