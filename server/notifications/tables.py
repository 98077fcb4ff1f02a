from piccolo.columns import (
    JSON,
    ForeignKey,
    Integer,
    OnDelete,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table

from server.accounts.tables import User
from server.clients.tables import Contact
from server.tasks.tables import Task


class NotificationPreference(Table, tablename="notification_preferences"):
    """The channels a user chose; no row means every channel the user can be reached on."""

    id: Serial
    user = ForeignKey(User, on_delete=OnDelete.cascade, unique=True)
    notification_channels = JSON(default=["email", "telegram", "push"])


class PushSubscription(Table, tablename="push_subscriptions"):
    """A browser's Web Push subscription (endpoint + its ECDH public key and auth secret)."""

    id: Serial
    user = ForeignKey(User, on_delete=OnDelete.cascade, index=True)
    endpoint = Text(unique=True)
    p256dh = Varchar(length=200)
    auth = Varchar(length=100)
    created_at = Timestamptz()


class Notification(Table, tablename="notifications"):
    """The outbox: one row per recipient × channel, written in the change's transaction.

    pending → sending (claimed by one delivery, with claimed_at) → sent | failed | skipped
    (the channel is not configured; `error` says which setting is unset); a transient error
    puts it back to pending with next_attempt_at."""

    id: Serial
    task = ForeignKey(Task, null=True, on_delete=OnDelete.cascade, index=True)
    kind = Varchar(length=50)
    channel = Varchar(length=20)
    user = ForeignKey(User, null=True, on_delete=OnDelete.cascade)
    contact = ForeignKey(Contact, null=True, on_delete=OnDelete.cascade)
    push_subscription = ForeignKey(PushSubscription, null=True, on_delete=OnDelete.cascade)
    # E-mail address, Telegram chat id or push endpoint, fixed when the row is written.
    address = Text()
    language = Varchar(length=5, default="ru")
    # What the texts are rendered from (task number and title, actor, comment, reason...).
    context = JSON(default={})
    status = Varchar(length=10, default="pending", index=True)
    attempts = Integer(default=0)
    next_attempt_at = Timestamptz(index=True)
    claimed_at = Timestamptz(null=True, default=None)
    sent_at = Timestamptz(null=True, default=None)
    error = Text(default="")
    # Client e-mail threading: this message's id and the thread it answers.
    message_id = Varchar(length=300, null=True, default=None)
    in_reply_to = Varchar(length=300, null=True, default=None)
    thread_references = Text(default="")
    created_at = Timestamptz()
