from piccolo.columns import ForeignKey, Integer, OnDelete, Serial, Text, Timestamptz, Varchar
from piccolo.table import Table

from server.accounts.tables import User
from server.clients.tables import Contact
from server.tasks.tables import Task


class TaskRating(Table, tablename="task_ratings"):
    """CSAT: one rating per task (unique index), by a client user in the portal or by the
    requester through the signed link of the "completed" mail; changed within a week."""

    id: Serial
    task = ForeignKey(Task, on_delete=OnDelete.cascade)
    score = Integer()
    comment = Text(default="")
    user = ForeignKey(User, null=True, default=None, on_delete=OnDelete.set_null)
    contact = ForeignKey(Contact, null=True, default=None, on_delete=OnDelete.set_null)
    # Who rated, as shown on the task ("Иванова", "ivanova@romashka.ru").
    rated_by = Varchar(length=255, default="")
    first_rated_at = Timestamptz()
    rated_at = Timestamptz(index=True)


class SignOff(Table, tablename="task_signoffs"):
    """The client's answer to a finished visit: accepted (printed on the completion act) or
    disputed with a comment (the office hears of it). The latest row is the answer."""

    id: Serial
    task = ForeignKey(Task, on_delete=OnDelete.cascade, index=True)
    decision = Varchar(length=20)
    comment = Text(default="")
    user = ForeignKey(User, null=True, default=None, on_delete=OnDelete.set_null)
    signer_name = Varchar(length=255, default="")
    at = Timestamptz()
