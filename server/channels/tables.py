from piccolo.columns import (
    BigInt,
    Boolean,
    Bytea,
    ForeignKey,
    Integer,
    OnDelete,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table

from server.clients.tables import Contact
from server.tasks.tables import Task, Template


class TelegramChat(Table, tablename="telegram_chats"):
    """A Telegram group mapped to the template its `/task` commands create."""

    id: Serial
    chat_id = BigInt(unique=True)
    template = ForeignKey(Template, on_delete=OnDelete.cascade)
    created_at = Timestamptz()


class TelegramUpdate(Table, tablename="telegram_updates"):
    """Every authenticated update once: Telegram re-sends until it gets a 200."""

    id: Serial
    update_id = BigInt(unique=True)
    received_at = Timestamptz()
    outcome = Varchar(length=30, default="received")
    task = ForeignKey(Task, null=True, on_delete=OnDelete.set_null)


class MailAddress(Table, tablename="mail_addresses"):
    """An intake address (lower-cased) and the template its new mail creates."""

    id: Serial
    address = Varchar(length=320, unique=True)
    template = ForeignKey(Template, on_delete=OnDelete.cascade)
    created_at = Timestamptz()


class InboundMail(Table, tablename="inbound_mails"):
    """Every message received, raw, with what intake did with it."""

    id: Serial
    received_at = Timestamptz(index=True)
    envelope_from = Varchar(length=320, null=True, default=None)
    recipients = Text(default="")
    message_id = Varchar(length=500, null=True, default=None, index=True)
    # Set only on the row that processed a Message-ID: duplicates fail this constraint.
    processed_message_id = Varchar(length=500, null=True, default=None, unique=True)
    sender = Varchar(length=320, default="")
    subject = Text(default="")
    size = Integer(default=0)
    content = Bytea()
    outcome = Varchar(length=20, default="received", index=True)
    reason = Text(default="")
    task = ForeignKey(Task, null=True, on_delete=OnDelete.set_null)
    comment_id = Integer(null=True, default=None)


class MailAttachment(Table, tablename="inbound_mail_attachments"):
    """An attachment of an inbound message; bodies over the size limit are not kept."""

    id: Serial
    mail = ForeignKey(InboundMail, on_delete=OnDelete.cascade, index=True)
    task = ForeignKey(Task, null=True, on_delete=OnDelete.set_null)
    filename = Varchar(length=255, default="")
    content_type = Varchar(length=200, default="application/octet-stream")
    size = Integer(default=0)
    data = Bytea(null=True, default=None)
    kept = Boolean(default=True)


class IntakeTask(Table, tablename="intake_tasks"):
    """Channel facts about a task created from mail: R2 flag and the R6 reopen link."""

    id: Serial
    task = ForeignKey(Task, on_delete=OnDelete.cascade, unique=True)
    counterparty_missing = Boolean(default=False, index=True)
    follows_task = ForeignKey(Task, null=True, on_delete=OnDelete.set_null)
    contact = ForeignKey(Contact, null=True, on_delete=OnDelete.set_null)
    created_at = Timestamptz()


class ImapMessage(Table, tablename="imap_messages"):
    """A message seen in an IMAP mailbox, known by UIDVALIDITY and UID: taken in once (the
    row commits with the intake's unit of work), then moved out of the folder."""

    id: Serial
    # "<user>@<host>/<folder>|<uidvalidity>|<uid>": unique, so two intake processes
    # on one mailbox cannot both take the same message.
    key = Varchar(length=700, unique=True)
    mailbox = Varchar(length=600)
    uidvalidity = BigInt()
    uid = BigInt()
    # done: taken in (outcome says how); error: the unit failed, retried; failed: given up,
    # moved to the failures folder.
    state = Varchar(length=20, default="done")
    attempts = Integer(default=0)
    outcome = Varchar(length=20, default="")
    reason = Text(default="")
    task = ForeignKey(Task, null=True, on_delete=OnDelete.set_null)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class TelegramPollOffset(Table, tablename="telegram_poll_offsets"):
    """`naryad telegram poll`: the next getUpdates offset of a bot, written in the same
    transaction as the update it follows."""

    id: Serial
    bot_id = BigInt(unique=True)
    next_offset = BigInt(default=0)
    updated_at = Timestamptz()
