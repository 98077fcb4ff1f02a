"""Photos and files attached to a task by the people working on it (issue 8)."""

from piccolo.columns import (
    Boolean,
    Bytea,
    ForeignKey,
    Integer,
    OnDelete,
    Serial,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table

from server.accounts.tables import User
from server.tasks.tables import Task


class TaskAttachment(Table, tablename="task_attachments"):
    """One uploaded file. `public` ones are shown to the task's client; the rest are internal.

    The bytes live in the row: photos are resized on the phone, the limit is 10 MB, and one
    database keeps backups and the multi-process deployment simple."""

    id: Serial
    task = ForeignKey(Task, on_delete=OnDelete.cascade, index=True)
    filename = Varchar(length=255)
    content_type = Varchar(length=100)
    caption = Varchar(length=500, default="")
    public = Boolean(default=False)
    data = Bytea()
    size = Integer()
    sha256 = Varchar(length=64)
    uploaded_by = ForeignKey(User, null=True, on_delete=OnDelete.set_null)
    created_at = Timestamptz()
