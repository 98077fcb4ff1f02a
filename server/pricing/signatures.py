"""The client's signature, taken on the assignee's phone before the visit is marked done.

One current signature per task: a new one replaces it, and history (R12) records each. The
image must be a well-formed PNG within size limits; the print forms embed it as it is.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
import zlib
from typing import Any

from printing.documents import MAX_SIGNATURE_SIDE
from server import db
from server.accounts.tables import User
from server.lib import clock
from server.lib.actor import Actor
from server.lib.errors import Conflict, InvalidInput, NotFound
from server.pricing import fields
from server.pricing.schemas import SignatureOut
from server.pricing.service import locked_task
from server.pricing.tables import TaskSignature
from server.tasks import service as tasks
from server.tasks.schemas import UserRef
from server.tasks.statuses import OPEN_WORK

# A signature from a phone's canvas is a few tens of KB.
SIGNATURE_MAX_BYTES = 512 * 1024
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# The client signs while the engineer is on the job, before it is marked done.
SIGNABLE_STATUSES = frozenset(OPEN_WORK)


def decode_signature(png_base64: str) -> bytes:
    """Bytes of a base64 PNG; a data:image/png;base64,… URL (canvas.toDataURL) is accepted."""
    text = png_base64.strip()
    if text.startswith("data:"):
        header, sep, text = text.partition(",")
        if not sep or not header.endswith(";base64"):
            raise InvalidInput("pricing.png_base_data_url")
        if header[len("data:") :].split(";")[0].strip().lower() != "image/png":
            raise InvalidInput("pricing.signature_must_png_image_2")
    try:
        # Line breaks are common in base64 from other tools; they carry no data.
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput("pricing.png_base_not_valid") from exc


def signature_png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a well-formed PNG within the limits, or InvalidInput.

    Walks every chunk and checks its CRC: the magic bytes alone would let through a file
    that merely starts like a PNG. Pixels are bounded as well as bytes, against tiny files
    that inflate to huge images."""
    if len(data) > SIGNATURE_MAX_BYTES:
        raise InvalidInput(
            "pricing.signature_image_kb_limit",
            value=len(data) // 1024,
            value2=SIGNATURE_MAX_BYTES // 1024,
        )
    if not data.startswith(_PNG_MAGIC):
        raise InvalidInput("pricing.signature_must_png_image")
    kinds: list[bytes] = []
    offset = len(_PNG_MAGIC)
    while offset < len(data) and (not kinds or kinds[-1] != b"IEND"):
        if offset + 12 > len(data):
            raise InvalidInput("pricing.signature_png_truncated")
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        end = offset + 12 + length
        if end > len(data):
            raise InvalidInput("pricing.signature_png_truncated")
        body = data[offset + 4 : end - 4]
        (crc,) = struct.unpack(">I", data[end - 4 : end])
        if zlib.crc32(body) != crc:
            raise InvalidInput("pricing.signature_png_damaged_chunk")
        kinds.append(body[:4])
        offset = end
    if (
        not kinds
        or kinds[0] != b"IHDR"
        or kinds[-1] != b"IEND"
        or b"IDAT" not in kinds
        or offset != len(data)
    ):
        raise InvalidInput("pricing.signature_png_malformed_needs")
    width, height = struct.unpack(">II", data[16:24])
    if not (0 < width <= MAX_SIGNATURE_SIDE and 0 < height <= MAX_SIGNATURE_SIDE):
        raise InvalidInput(
            "pricing.signature_image_pixels_most",
            width=width,
            height=height,
            max_signature_side=MAX_SIGNATURE_SIDE,
        )
    return width, height


async def capture_signature(
    actor: Actor, task_id: int, png: bytes, signer_name: str, *, channel: str = "ui"
) -> SignatureOut:
    """The assignee records the client's signature before marking the visit done; a new
    signature replaces the previous one."""
    fields.require_employee(actor, "record a signature")
    await tasks.get_task(actor, task_id)
    name = fields.text("signer_name", signer_name)
    width, height = signature_png_size(png)
    digest = hashlib.sha256(png).hexdigest()
    async with db.transaction():
        task = await locked_task(task_id)
        if task["status"] not in SIGNABLE_STATUSES:
            raise Conflict(
                "pricing.task_client_signs_while", number=task["number"], status=task["status"]
            )
        if task["assignee"] != actor.id:
            holder = await User.select(User.full_name).where(User.id == task["assignee"]).first()
            raise Conflict(
                "pricing.signature.not_holder",
                number=task["number"],
                holder=holder["full_name"] if holder else "—",
                extra={"assignee_id": task["assignee"]},
            )
        replaced = (
            await TaskSignature.delete()
            .where(TaskSignature.task == task_id)
            .returning(TaskSignature.id)
        )
        now = clock.now()
        await TaskSignature.insert(
            TaskSignature(
                task=task_id,
                png=png,
                sha256=digest,
                signer_name=name,
                signed_by=actor.id,
                signed_at=now,
            )
        )
        await tasks.record_event(
            task_id,
            actor.id,
            "signature_captured",
            channel,
            {"signer_name": name, "size": len(png), "sha256": digest, "replaced": bool(replaced)},
            internal=False,
            at=now,
        )
    return SignatureOut(
        task_id=task_id,
        signer_name=name,
        signed_at=now,
        signed_by=UserRef(actor.id, actor.full_name),
        size=len(png),
        width=width,
        height=height,
        sha256=digest,
    )


async def signature_row(task_id: int) -> dict[str, Any] | None:
    """The task's current signature (png, signer_name, signed_at), if any."""
    row: dict[str, Any] | None = (
        await TaskSignature.select(
            TaskSignature.png,
            TaskSignature.signer_name,
            TaskSignature.signed_at,
            TaskSignature.sha256,
        )
        .where(TaskSignature.task == task_id)
        .first()
    )
    if row is not None:
        row["signed_at"] = db.stored_datetime(row["signed_at"])
    return row


async def get_signature_png(actor: Actor, task_id: int) -> tuple[bytes, str]:
    """(PNG bytes, sha256) of the task's signature; 404 if none or the task is not visible."""
    task = await tasks.get_task(actor, task_id)
    row = await signature_row(task_id)
    if row is None:
        raise NotFound("pricing.task_no_signature_yet", task_number=task.number)
    return bytes(row["png"]), row["sha256"]
