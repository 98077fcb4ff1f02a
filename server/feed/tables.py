from piccolo.columns import JSON, ForeignKey, OnDelete, Serial, Timestamptz, Varchar
from piccolo.table import Table

from server.accounts.tables import User
from server.tasks.tables import Task


class FeedItem(Table, tablename="feed_items"):
    """One line of a person's feed, written in the transaction of the change it tells of.

    kind: queue_new | assigned | returned | client_reply | resumed. `data` keeps what the
    line says (the task's number and title then, the reason, who did it) so the feed reads
    the same later and needs no joins."""

    id: Serial
    user = ForeignKey(User, on_delete=OnDelete.cascade, index=True)
    task = ForeignKey(Task, on_delete=OnDelete.cascade, index=True)
    kind = Varchar(length=30)
    data = JSON(default={})
    created_at = Timestamptz()
    read_at = Timestamptz(null=True, default=None)
