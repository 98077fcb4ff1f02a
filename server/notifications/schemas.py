from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

CHANNELS: tuple[str, ...] = ("email", "telegram", "push")
Channel = Literal["email", "telegram", "push"]


class PreferencesIn(msgspec.Struct, forbid_unknown_fields=True):
    notification_channels: list[Channel]


class PreferencesOut(msgspec.Struct):
    notification_channels: list[str]


class PushKeys(msgspec.Struct):
    p256dh: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    auth: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class PushSubscriptionIn(msgspec.Struct):
    """What the browser's PushSubscription.toJSON() gives (expirationTime is ignored)."""

    endpoint: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
    keys: PushKeys


class PushSubscriptionOut(msgspec.Struct):
    id: int
    endpoint: str


class NotificationOut(msgspec.Struct):
    id: int
    task_id: int | None
    kind: str
    channel: str
    user_id: int | None
    contact_id: int | None
    address: str
    status: str
    attempts: int
    error: str
    created_at: dt.datetime
    sent_at: dt.datetime | None = None


class VapidKeyOut(msgspec.Struct):
    public_key: str | None
