"""The client's signature: taken by the assignee before done, PNG only, size-limited (issue 7)."""

from __future__ import annotations

import base64
import hashlib
import os
import struct
import zlib

import pytest

from printing.png import RGBA, encode_png
from printing.sample import signature_png
from server.pricing.tables import TaskSignature

pytestmark = pytest.mark.sqlite


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def sign_body(png: bytes, name: str = "Петрова А. С.") -> dict[str, str]:
    return {"png_base64": b64(png), "signer_name": name}


async def test_assignee_records_and_replaces_the_signature(desk):
    task = await desk.visit()
    tid = task["id"]
    png = signature_png()
    signed = await desk.ok("ivanov", "POST", f"/api/tasks/{tid}/signature", sign_body(png), 201)
    assert signed["signer_name"] == "Петрова А. С." and signed["size"] == len(png)
    assert (signed["width"], signed["height"]) == (240, 80)
    assert signed["sha256"] == hashlib.sha256(png).hexdigest()
    assert signed["signed_by"]["full_name"].startswith("Иванов")

    # a data: URL straight from canvas.toDataURL() works too, and replaces the first one
    second = signature_png(300, 100)
    body = {"png_base64": "data:image/png;base64," + b64(second), "signer_name": " Петрова  Анна "}
    replaced = await desk.ok("ivanov", "POST", f"/api/tasks/{tid}/signature", body, 201)
    assert replaced["signer_name"] == "Петрова Анна"
    rows = await TaskSignature.select().where(TaskSignature.task == tid)
    assert len(rows) == 1 and bytes(rows[0]["png"]) == second

    # whoever sees the task can look at it
    resp = await desk.call("client", "GET", f"/api/tasks/{tid}/signature")
    assert resp.status_code == 200 and resp.headers["content-type"] == "image/png"
    assert resp.content == second

    events = [e for e in await desk.history(tid, "client") if e["kind"] == "signature_captured"]
    assert [e["data"]["replaced"] for e in events] == [False, True]
    assert events[1]["data"]["signer_name"] == "Петрова Анна"


async def test_only_the_assignee_signs_and_only_before_done(desk):
    task = await desk.visit()
    tid = task["id"]
    body = sign_body(signature_png())
    resp = await desk.call("petrov", "POST", f"/api/tasks/{tid}/signature", body)
    assert resp.status_code == 409 and "Иванов" in resp.json()["detail"]
    resp = await desk.call("office", "POST", f"/api/tasks/{tid}/signature", body)
    assert resp.status_code == 409
    resp = await desk.call("client", "POST", f"/api/tasks/{tid}/signature", body)
    assert resp.status_code == 403
    assert (await desk.call("ivanov", "GET", f"/api/tasks/{tid}/signature")).status_code == 404

    queued = await desk.ok(
        "office", "POST", "/api/tasks", {"template": "field_visit", "title": "Ромашка: касса"}, 201
    )
    resp = await desk.call("ivanov", "POST", f"/api/tasks/{queued['id']}/signature", body)
    assert resp.status_code == 409 and "“New”" in resp.json()["detail"]

    await desk.ok("ivanov", "POST", f"/api/tasks/{tid}/done", {"completed_works": "Готово"})
    resp = await desk.call("ivanov", "POST", f"/api/tasks/{tid}/signature", body)
    assert resp.status_code == 409 and "“Done (awaiting check)”" in resp.json()["detail"]
    await desk.ok("checker", "POST", f"/api/tasks/{tid}/approve")
    resp = await desk.call("ivanov", "POST", f"/api/tasks/{tid}/signature", body)
    assert resp.status_code == 409 and "“Completed”" in resp.json()["detail"]
    assert not await TaskSignature.exists().where(TaskSignature.task == tid)


def _damaged(png: bytes) -> bytes:
    data = bytearray(png)
    data[40] ^= 0xFF  # inside IDAT: its CRC no longer matches
    return bytes(data)


def _huge_canvas() -> bytes:
    # A valid PNG header claiming 20000 × 20000 pixels: tiny file, enormous image.
    header = struct.pack(">IIBBBBB", 20000, 20000, 8, 6, 0, 0, 0)
    png = signature_png()
    ihdr = b"IHDR" + header
    chunk = struct.pack(">I", 13) + ihdr + struct.pack(">I", zlib.crc32(ihdr))
    return png[:8] + chunk + png[8 + 25 :]


def _oversized() -> bytes:
    # Noise does not compress: 400 × 400 RGBA is ~640 KB of PNG, over the 512 KB limit.
    rows = [os.urandom(400 * 4) for _ in range(400)]
    return encode_png(400, 400, rows, RGBA)


BAD_IMAGES = {
    "gif": (lambda: b64(b"GIF89a" + b"\0" * 100), "must be a PNG image"),
    "svg": (lambda: b64(b"<svg xmlns='http://www.w3.org/2000/svg'/>"), "must be a PNG image"),
    "jpeg-data-url": (
        lambda: "data:image/jpeg;base64," + b64(b"\xff\xd8\xff"),
        "must be a PNG image",
    ),
    "not-base64": (lambda: "not base64 at all!", "not valid base64"),
    "magic-only": (lambda: b64(b"\x89PNG\r\n\x1a\n"), "malformed"),
    "truncated": (lambda: b64(signature_png()[:60]), "truncated"),
    "bad-crc": (lambda: b64(_damaged(signature_png())), "damaged"),
    "huge-canvas": (lambda: b64(_huge_canvas()), "20000×20000 pixels"),
    "over-512-kb": (lambda: b64(_oversized()), "the limit is 512 KB"),
}


@pytest.mark.parametrize("case", list(BAD_IMAGES))
async def test_only_well_formed_small_pngs_are_accepted(desk, case):
    make, message = BAD_IMAGES[case]
    png_base64 = make()
    task = await desk.visit()
    resp = await desk.call(
        "ivanov",
        "POST",
        f"/api/tasks/{task['id']}/signature",
        {"png_base64": png_base64, "signer_name": "Петрова"},
    )
    assert resp.status_code == 422, resp.text
    assert message in resp.json()["detail"]
    assert not await TaskSignature.exists().where(TaskSignature.task == task["id"])


async def test_signer_name_is_required(desk):
    task = await desk.visit()
    resp = await desk.call(
        "ivanov", "POST", f"/api/tasks/{task['id']}/signature", sign_body(signature_png(), "  ")
    )
    assert resp.status_code == 422 and "signer_name" in resp.json()["detail"]
