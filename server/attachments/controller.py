"""HTTP for task attachments: JSON upload (base64), list, download."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from litestar import Controller, Request, Response, get, post

from server.attachments import service
from server.attachments.schemas import AttachmentIn, AttachmentOut
from server.lib.actor import Actor
from server.lib.guards import ANYONE
from server.tasks import idempotency

AttachmentRequest = Request[Actor, str, Any]
# Base64 makes 10 MB of file about 13.4 MB of JSON; a larger body is refused (413) before it
# is read, anything below reaches the service and its message about the 10 MB limit.
MAX_BODY_BYTES = 16 * 1024 * 1024


def content_disposition(filename: str) -> str:
    """inline, with an ASCII fallback name and the exact name in RFC 5987 form."""
    fallback = filename.encode("ascii", "replace").decode().replace("?", "_").replace("\\", "_")
    return f"inline; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


class AttachmentsController(Controller):
    path = "/api/tasks/{task_id:int}/attachments"
    tags = ["attachments"]
    # Employees who can see the task, and clients for their own company's tasks.
    guards = [ANYONE]

    @post("/", status_code=201, request_max_body_size=MAX_BODY_BYTES)
    async def upload(
        self, task_id: int, data: AttachmentIn, request: AttachmentRequest
    ) -> Response[AttachmentOut]:
        """JSON {"filename", "content_type", "data_base64", "caption"?, "public"?}: a photo
        (JPEG, PNG, WebP, HEIC) or a PDF of at most 10 MB; the bytes must match the type.
        data_base64 may be a data: URL. Honours Idempotency-Key."""
        payload = service.decode_data(data.data_base64)
        return await idempotency.respond_once(
            request,
            lambda: service.add_attachment(request.user, task_id, payload, data),
            201,
        )

    @get("/")
    async def list_attachments(
        self, task_id: int, request: AttachmentRequest
    ) -> list[AttachmentOut]:
        """Oldest first, without the bytes; clients see public attachments only."""
        return await service.list_attachments(request.user, task_id)

    @get("/{attachment_id:int}", media_type="application/octet-stream")
    async def download(
        self, task_id: int, attachment_id: int, request: AttachmentRequest
    ) -> Response[bytes]:
        """The bytes as uploaded, with their content type and file name."""
        stored = await service.get_attachment_file(request.user, task_id, attachment_id)
        return Response(
            stored.data,
            media_type=stored.content_type,
            headers={
                "Content-Disposition": content_disposition(stored.filename),
                "ETag": f'"{stored.sha256}"',
                "X-Content-Type-Options": "nosniff",
                # Attachments never change; the caller's session decides who may see them.
                "Cache-Control": "private, max-age=86400",
            },
        )
