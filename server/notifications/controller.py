from __future__ import annotations

from typing import Any, Literal

from litestar import Controller, Request, get, post, put

from server.lib.actor import Actor
from server.lib.guards import ADMIN
from server.notifications import service
from server.notifications.schemas import (
    NotificationOut,
    PreferencesIn,
    PreferencesOut,
    PushSubscriptionIn,
    PushSubscriptionOut,
    VapidKeyOut,
)
from server.settings import Settings


class NotificationsController(Controller):
    path = "/api"
    tags = ["notifications"]

    @get("/me/notifications")
    async def get_preferences(self, request: Request[Actor, str, Any]) -> PreferencesOut:
        return await service.get_preferences(request.user.id)

    @put("/me/notifications")
    async def set_preferences(
        self, data: PreferencesIn, request: Request[Actor, str, Any]
    ) -> PreferencesOut:
        return await service.set_preferences(request.user.id, data)

    @post("/push/subscriptions")
    async def subscribe(
        self, data: PushSubscriptionIn, request: Request[Actor, str, Any]
    ) -> PushSubscriptionOut:
        return await service.add_push_subscription(request.user.id, data)

    @get("/push/vapid-public-key")
    async def vapid_public_key(self, settings: Settings) -> VapidKeyOut:
        return VapidKeyOut(public_key=settings.vapid_public_key)

    @get("/notifications", guards=[ADMIN])
    async def list_notifications(
        self,
        status: Literal["pending", "sending", "sent", "failed", "skipped"] | None = None,
        task: int | None = None,
        limit: int = 100,
    ) -> list[NotificationOut]:
        return await service.list_notifications(status, task, min(max(limit, 1), 500))
