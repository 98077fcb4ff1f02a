"""API shapes of task attachments."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec

from server.tasks.schemas import UserRef


class AttachmentIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A file as base64 in JSON, so the PWA's offline outbox can keep and replay it like any
    other action; a data: URL (FileReader.readAsDataURL, canvas.toDataURL) is fine.
    The byte limit is checked after decoding, with a message that says it."""

    filename: Annotated[str, msgspec.Meta(max_length=1000)]
    content_type: Annotated[str, msgspec.Meta(max_length=200)]
    data_base64: str
    caption: Annotated[str, msgspec.Meta(max_length=500)] = ""
    # Shown to the task's client (and recorded as a public history event); staff only.
    public: bool = False


class AttachmentOut(msgspec.Struct, kw_only=True):
    id: int
    task_id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    caption: str
    public: bool
    uploaded_by: UserRef | None
    created_at: dt.datetime
    # GET it with the session cookie or the bearer token: the bytes, as uploaded.
    url: str


class AttachmentFile(msgspec.Struct, kw_only=True):
    """The bytes of one attachment and what the download response needs."""

    filename: str
    content_type: str
    sha256: str
    data: bytes
