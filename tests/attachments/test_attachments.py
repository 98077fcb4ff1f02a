"""Photos and files on a task: upload, list, download, limits, visibility (issue 8)."""

from __future__ import annotations

import base64
import hashlib
import struct
import zlib
from typing import Any

import httpx
import pytest

from server.attachments.tables import TaskAttachment

pytestmark = pytest.mark.sqlite

FIELD = ("Выездные инженеры",)
# The smallest baseline JPEG most decoders accept: 1×1 grey (125 bytes).
JPEG = bytes.fromhex(
    "FFD8FFE000104A46494600010101004800480000FFDB004300030202020202030202020303030304060404"
    "040404080606050609080A0A090809090A0C0F0C0A0B0E0B09090D110D0E0F101011100A0C12131210130F"
    "101010FFC9000B080001000101011100FFCC000600101005FFDA0008010100003F00D2CF20FFD9"
)


def png(width: int = 4, height: int = 3) -> bytes:
    """A real RGB PNG, drawn with zlib and struct as tests/pwa/pwa_icons.py does."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    rows = b"".join(
        b"\0" + b"".join(bytes((x * 40 % 256, y * 60 % 256, 200)) for x in range(width))
        for y in range(height)
    )
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


def body(data: bytes, filename: str, content_type: str, **extra: Any) -> dict[str, Any]:
    return {
        "filename": filename,
        "content_type": content_type,
        "data_base64": base64.b64encode(data).decode(),
        **extra,
    }


async def setup(backend) -> dict[str, Any]:
    romashka = await backend.counterparty("Ромашка")
    other = await backend.counterparty("Лютик")
    office = await backend.user("office")
    ivanov = await backend.user("engineer", groups=FIELD, surname="Иванов")
    client = await backend.user("client", counterparty_id=romashka["id"])
    stranger = await backend.user("client", counterparty_id=other["id"])
    resp = await backend.create_task(
        office, template="field_visit", title="Ромашка: касса не печатает"
    )
    assert resp.status_code == 201, resp.text
    # Ivanov takes the visit: its holder adds the photos (issue 14: not the whole group).
    accepted = await backend.http.post(
        f"/api/tasks/{resp.json()['id']}/accept", headers=ivanov["headers"]
    )
    assert accepted.status_code == 200, accepted.text
    return {
        "tid": resp.json()["id"],
        "office": office,
        "ivanov": ivanov,
        "client": client,
        "stranger": stranger,
    }


async def upload(backend, who, tid: int, payload: dict[str, Any], key: str | None = None):
    headers = dict(who["headers"])
    if key:
        headers["Idempotency-Key"] = key
    return await backend.http.post(f"/api/tasks/{tid}/attachments", json=payload, headers=headers)


async def test_upload_list_download_and_history(backend):
    c = await setup(backend)
    tid = c["tid"]
    photo = png()
    resp = await upload(
        backend, c["ivanov"], tid, body(photo, "касса 1.png", "image/png", caption=" чек  ")
    )
    assert resp.status_code == 201, resp.text
    first = resp.json()
    assert first["filename"] == "касса 1.png" and first["content_type"] == "image/png"
    assert first["size"] == len(photo) and first["sha256"] == hashlib.sha256(photo).hexdigest()
    assert first["caption"] == "чек" and first["public"] is False
    assert first["uploaded_by"]["id"] == c["ivanov"]["id"]
    assert first["url"] == f"/api/tasks/{tid}/attachments/{first['id']}"

    # A data: URL (FileReader.readAsDataURL) works too; image/jpg is read as image/jpeg.
    jpeg_body = {
        "filename": "C:\\phone\\IMG_0001.JPG",
        "content_type": "image/jpg",
        "data_base64": "data:image/jpeg;base64," + base64.b64encode(JPEG).decode(),
        "public": True,
    }
    resp = await upload(backend, c["ivanov"], tid, jpeg_body)
    assert resp.status_code == 201, resp.text
    second = resp.json()
    assert second["filename"] == "IMG_0001.JPG" and second["content_type"] == "image/jpeg"

    resp = await backend.http.get(f"/api/tasks/{tid}/attachments", headers=c["office"]["headers"])
    assert resp.status_code == 200
    assert [a["id"] for a in resp.json()] == [first["id"], second["id"]]
    assert "data" not in resp.json()[0]

    for item, data, media in ((first, photo, "image/png"), (second, JPEG, "image/jpeg")):
        resp = await backend.http.get(item["url"], headers=c["office"]["headers"])
        assert resp.status_code == 200
        assert resp.content == data
        assert resp.headers["content-type"] == media
        assert resp.headers["x-content-type-options"] == "nosniff"
    disposition = (await backend.http.get(first["url"], headers=c["office"]["headers"])).headers[
        "content-disposition"
    ]
    assert "filename*=UTF-8''%D0%BA%D0%B0%D1%81%D1%81%D0%B0%201.png" in disposition

    resp = await backend.http.get(f"/api/tasks/{tid}/history", headers=c["office"]["headers"])
    events = [e for e in resp.json() if e["kind"] == "attachment"]
    assert [e["data"]["attachment_id"] for e in events] == [first["id"], second["id"]]
    assert events[0]["data"]["filename"] == "касса 1.png"
    assert events[0]["data"]["sha256"] == first["sha256"]
    assert events[0]["actor"]["id"] == c["ivanov"]["id"]

    resp = await backend.http.get(
        f"/api/tasks/{tid}/attachments/999999", headers=c["office"]["headers"]
    )
    assert resp.status_code == 404


@pytest.mark.parametrize(
    ("data", "filename", "content_type", "words"),
    [
        (b"<html><script>alert(1)</script></html>", "x.html", "text/html", "not accepted"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "x.svg", "image/svg+xml", "not accepted"),
        # a fake: says JPEG, is not any image at all
        (b"MZ\x90\x00" + b"\0" * 100, "photo.jpg", "image/jpeg", "content is not"),
        # a real PNG declared as a JPEG
        (png(), "photo.jpg", "image/jpeg", "looks like a PNG"),
        (b"", "empty.png", "image/png", "empty"),
    ],
)
async def test_wrong_types_and_fakes_are_refused(backend, data, filename, content_type, words):
    c = await setup(backend)
    resp = await upload(backend, c["ivanov"], c["tid"], body(data, filename, content_type))
    assert resp.status_code == 422, resp.text
    assert words in resp.json()["detail"]
    assert not await TaskAttachment.exists().where(TaskAttachment.task == c["tid"])


async def test_too_big_and_bad_base64_are_refused(backend):
    c = await setup(backend)
    tid = c["tid"]
    big = b"%PDF-1.4\n" + b"0" * (10 * 1024 * 1024)
    resp = await upload(backend, c["ivanov"], tid, body(big, "scan.pdf", "application/pdf"))
    assert resp.status_code == 422, resp.text
    assert "limit is 10 MB" in resp.json()["detail"]

    bad = {"filename": "a.png", "content_type": "image/png", "data_base64": "not base64!"}
    resp = await upload(backend, c["ivanov"], tid, bad)
    assert resp.status_code == 422 and "base64" in resp.json()["detail"]
    assert not await TaskAttachment.exists().where(TaskAttachment.task == tid)
    resp = await backend.http.get(f"/api/tasks/{tid}/history", headers=c["office"]["headers"])
    assert not [e for e in resp.json() if e["kind"] == "attachment"]

    # a PDF within the limit is fine
    pdf = b"%PDF-1.4\n%%EOF\n"
    resp = await upload(backend, c["office"], tid, body(pdf, "act.pdf", "application/pdf"))
    assert resp.status_code == 201 and resp.json()["content_type"] == "application/pdf"


async def test_clients_see_public_attachments_of_their_own_tasks_only(backend):
    c = await setup(backend)
    tid = c["tid"]
    internal = (await upload(backend, c["ivanov"], tid, body(png(), "in.png", "image/png"))).json()
    public = (
        await upload(backend, c["ivanov"], tid, body(JPEG, "out.jpg", "image/jpeg", public=True))
    ).json()

    resp = await backend.http.get(f"/api/tasks/{tid}/attachments", headers=c["client"]["headers"])
    assert [a["id"] for a in resp.json()] == [public["id"]]
    resp = await backend.http.get(internal["url"], headers=c["client"]["headers"])
    assert resp.status_code == 404
    resp = await backend.http.get(public["url"], headers=c["client"]["headers"])
    assert resp.status_code == 200 and resp.content == JPEG
    history = await backend.http.get(f"/api/tasks/{tid}/history", headers=c["client"]["headers"])
    seen = [e["data"]["attachment_id"] for e in history.json() if e["kind"] == "attachment"]
    assert seen == [public["id"]]

    # A client adds to their own task; what a client adds is public.
    resp = await upload(backend, c["client"], tid, body(png(2, 2), "от клиента.png", "image/png"))
    assert resp.status_code == 201, resp.text
    assert resp.json()["public"] is True

    # Another company's client sees nothing of it, not even that it exists.
    for path in (f"/api/tasks/{tid}/attachments", public["url"]):
        resp = await backend.http.get(path, headers=c["stranger"]["headers"])
        assert resp.status_code == 404
    resp = await upload(backend, c["stranger"], tid, body(png(), "x.png", "image/png"))
    assert resp.status_code == 404
    async with httpx.AsyncClient(base_url=backend.server.base_url) as anonymous:
        assert (await anonymous.get(f"/api/tasks/{tid}/attachments")).status_code == 401
    rows = await TaskAttachment.select(TaskAttachment.id).where(TaskAttachment.task == tid)
    assert len(rows) == 3


async def test_a_replayed_upload_is_stored_once(backend):
    c = await setup(backend)
    tid = c["tid"]
    payload = body(png(), "kassa.png", "image/png")
    first = await upload(backend, c["ivanov"], tid, payload, key="photo-1")
    again = await upload(backend, c["ivanov"], tid, payload, key="photo-1")
    assert first.status_code == again.status_code == 201
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.json() == first.json()
    rows = await TaskAttachment.select(TaskAttachment.id).where(TaskAttachment.task == tid)
    assert len(rows) == 1
    resp = await backend.http.get(f"/api/tasks/{tid}/history", headers=c["office"]["headers"])
    assert len([e for e in resp.json() if e["kind"] == "attachment"]) == 1
    # The same key for a different file is a mistake, said plainly.
    other = await upload(
        backend, c["ivanov"], tid, body(JPEG, "b.jpg", "image/jpeg"), key="photo-1"
    )
    assert other.status_code == 422 and "different request" in other.json()["detail"]
