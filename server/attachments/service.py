"""Photos and files on a task: upload, list, download (issue 8).

Images a phone takes (JPEG, PNG, WebP, HEIC) and PDFs, up to 10 MB each. The declared type
must match the file's own signature bytes: a name or a header alone proves nothing. Clients
see, and add, only public attachments; staff choose per file (internal by default). Who may
add them: may_attach.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from typing import Any

from server import db
from server.attachments.schemas import AttachmentFile, AttachmentIn, AttachmentOut
from server.attachments.tables import TaskAttachment
from server.lib import clock
from server.lib.actor import Actor
from server.lib.errors import Forbidden, InvalidInput, NotFound
from server.tasks import service as tasks
from server.tasks.schemas import TaskOut, UserRef
from server.tasks.statuses import Channel

MAX_BYTES = 10 * 1024 * 1024
# What a phone or a scanner produces; anything else (HTML, SVG, archives) is refused.
KINDS = {
    "image/jpeg": "JPEG image",
    "image/png": "PNG image",
    "image/webp": "WebP image",
    "image/heic": "HEIC image",
    "application/pdf": "PDF document",
}
# What a person calls each kind, in any language.
FORMATS = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/webp": "WebP",
    "image/heic": "HEIC",
    "application/pdf": "PDF",
}
ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "image/x-png": "image/png",
    "image/heif": "image/heic",
    "image/heic-sequence": "image/heic",
}
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}
_EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "image/heic": ".heic",
    "application/pdf": ".pdf",
}
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f\"]+")
MAX_FILENAME = 255


def decode_data(data_base64: str) -> bytes:
    """Bytes of base64 text; a data:<type>;base64,… URL is accepted (its type is ignored:
    `content_type` says what the file is)."""
    text = data_base64.strip()
    if text.startswith("data:"):
        header, sep, text = text.partition(",")
        if not sep or not header.endswith(";base64"):
            raise InvalidInput("attachment.data_base_data_url")
    try:
        # Line breaks are common in base64 from other tools; they carry no data.
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput("attachment.data_base_not_valid") from exc


def sniff(data: bytes) -> str | None:
    """The allowed type the file's signature bytes say it is, or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if len(data) >= 12 and data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        return "image/heic"
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    return None


def checked_type(declared: str, data: bytes) -> str:
    """The declared content type, normalised, once the bytes are shown to be of that type."""
    media = declared.split(";")[0].strip().lower()
    media = ALIASES.get(media, media)
    if media not in KINDS:
        raise InvalidInput("attachment.content_type_not_accepted", value=declared.strip())
    found = sniff(data)
    if found != media:
        raise InvalidInput(
            "attachment.content_mismatch" if found else "attachment.content_unknown",
            declared=FORMATS[media],
            found=FORMATS.get(found or "", found),
        )
    return media


def clean_filename(name: str, content_type: str) -> str:
    """A file name safe for a Content-Disposition header: no folders, no control characters."""
    base = re.split(r"[/\\]", name.strip())[-1]
    base = " ".join(_UNSAFE_NAME.sub(" ", base).split())
    if not base or base in {".", ".."}:
        base = "attachment" + _EXTENSIONS[content_type]
    if len(base) > MAX_FILENAME:
        stem, dot, ext = base.rpartition(".")
        ext = ext if dot and len(ext) <= 10 else ""
        base = (stem if dot else base)[: MAX_FILENAME - len(ext) - 1].rstrip() + (
            f".{ext}" if ext else ""
        )
    return base


def _out(row: dict[str, Any], task_id: int) -> AttachmentOut:
    created = db.stored_datetime(row["created_at"])
    return AttachmentOut(
        id=row["id"],
        task_id=task_id,
        filename=row["filename"],
        content_type=row["content_type"],
        size=row["size"],
        sha256=row["sha256"],
        caption=row["caption"] or "",
        public=bool(row["public"]),
        uploaded_by=UserRef(row["uploaded_by.id"], row["uploaded_by.full_name"])
        if row["uploaded_by.id"] is not None
        else None,
        created_at=created,
        url=f"/api/tasks/{task_id}/attachments/{row['id']}",
    )


async def may_attach(actor: Actor, task: TaskOut) -> bool:
    """Who adds files to a task the caller sees (issue #14): its holder, office staff and
    admins; a client when the task's template takes portal requests (its channels include
    "portal"), so a portal request can carry the client's photo of the fault. Other
    employees (the group, checkers, watchers) read and comment, but do not change it."""
    if actor.is_dispatcher:
        return True
    if not actor.is_client_only:
        return task.assignee is not None and task.assignee.id == actor.id
    template = await tasks.get_template(task.template)
    return Channel.PORTAL in template.channels


async def add_attachment(
    actor: Actor, task_id: int, data: bytes, spec: AttachmentIn, *, channel: str = "ui"
) -> AttachmentOut:
    """Store a file on a task the actor can see, and record it in the task's history."""
    task = await tasks.get_task(actor, task_id)  # 404 for tasks the caller cannot see
    if not await may_attach(actor, task):
        if actor.is_client_only:
            raise Forbidden("attachment.files_cannot_added_task", task_number=task.number)
        raise Forbidden("attachment.only_holder_task_office", task_number=task.number)
    if not data:
        raise InvalidInput("attachment.file_empty")
    if len(data) > MAX_BYTES:
        raise InvalidInput(
            "attachment.file_mb_limit_mb",
            value=f"{len(data) / 1024 / 1024:.1f}",
            value2=MAX_BYTES // 1024 // 1024,
        )
    content_type = checked_type(spec.content_type, data)
    filename = clean_filename(spec.filename, content_type)
    caption = " ".join(spec.caption.split())
    # What a client adds is shared with the client by nature.
    public = spec.public or actor.is_client_only
    digest = hashlib.sha256(data).hexdigest()
    now = clock.now()
    async with db.transaction():
        rows = await TaskAttachment.insert(
            TaskAttachment(
                task=task_id,
                filename=filename,
                content_type=content_type,
                caption=caption,
                public=public,
                data=data,
                size=len(data),
                sha256=digest,
                uploaded_by=actor.id,
                created_at=now,
            )
        ).returning(TaskAttachment.id)
        attachment_id = rows[0]["id"]
        await tasks.record_event(
            task_id,
            actor.id,
            "attachment",
            channel,
            {
                "attachment_id": attachment_id,
                "filename": filename,
                "content_type": content_type,
                "size": len(data),
                "sha256": digest,
                "caption": caption,
                "public": public,
            },
            internal=not public,
            at=now,
        )
    return _out(
        {
            "id": attachment_id,
            "filename": filename,
            "content_type": content_type,
            "size": len(data),
            "sha256": digest,
            "caption": caption,
            "public": public,
            "uploaded_by.id": actor.id,
            "uploaded_by.full_name": actor.full_name,
            "created_at": now,
        },
        task.id,
    )


async def list_attachments(actor: Actor, task_id: int) -> list[AttachmentOut]:
    """Oldest first, without the bytes; clients see the public ones only."""
    await tasks.get_task(actor, task_id)
    query = (
        TaskAttachment.select(
            TaskAttachment.id,
            TaskAttachment.filename,
            TaskAttachment.content_type,
            TaskAttachment.size,
            TaskAttachment.sha256,
            TaskAttachment.caption,
            TaskAttachment.public,
            TaskAttachment.created_at,
            TaskAttachment.uploaded_by.id,
            TaskAttachment.uploaded_by.full_name,
        )
        .where(TaskAttachment.task == task_id)
        .order_by(TaskAttachment.id)
    )
    if actor.is_client_only:
        query = query.where(TaskAttachment.public.eq(True))
    return [_out(row, task_id) for row in await query]


async def get_attachment_file(actor: Actor, task_id: int, attachment_id: int) -> AttachmentFile:
    """The stored bytes; 404 for a task the caller cannot see or an attachment not theirs
    to see (internal ones, for clients)."""
    await tasks.get_task(actor, task_id)
    query = TaskAttachment.select(
        TaskAttachment.filename,
        TaskAttachment.content_type,
        TaskAttachment.sha256,
        TaskAttachment.data,
    ).where((TaskAttachment.task == task_id) & (TaskAttachment.id == attachment_id))
    if actor.is_client_only:
        query = query.where(TaskAttachment.public.eq(True))
    row = await query.first()
    if row is None:
        raise NotFound(
            "attachment.task_no_attachment", task_id=task_id, attachment_id=attachment_id
        )
    return AttachmentFile(
        filename=row["filename"],
        content_type=row["content_type"],
        sha256=row["sha256"],
        data=bytes(row["data"]),
    )
