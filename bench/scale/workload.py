"""The mixed workload: field engineers, office staff and checkers driving the API over HTTP
as the PWA does, recording every request and every write the server acknowledged.

* Engineers poll their queue (`GET /api/tasks?queue=mine`), go for the oldest waiting visit
  all at once (accept races, one winner), then depart, arrive with coordinates, upload a
  photo and report done; now and then they open the card and read their feed.
* Office staff create field visits (a marker in the description makes each findable),
  assign some to an engineer directly and export the recent ones as CSV.
* Checkers approve finished visits.

Every state-changing request carries an Idempotency-Key and is sent again with the same
key when the answer was lost (a connection error, a timeout, 502/503/504), as the PWA's
offline outbox does. A 2xx answer is an acknowledged write: `Recorder.acked` keeps what it
promised, and bench/scale/checks.py looks for each of them in the database afterwards.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import random
import struct
import time
import uuid
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp

GROUP = "Выездные инженеры"
COUNTERPARTIES = ("Ромашка", "Лютик", "Василёк", "Пион", "Астра")
OPEN = "new,accepted,en_route,in_progress"
RETRYABLE = {0, -1, 502, 503, 504}
TIMEOUT = -1  # status recorded for a request that hit the client's timeout
NO_ANSWER = 0  # connection refused or dropped
MOSCOW = (55.7558, 37.6173)
# What each acknowledged action must have left in task_events (kind, by whom).
EVENT_OF = {
    "accept": "accepted",
    "assign": "assigned",
    "depart": "departed",
    "arrive": "arrived",
    "done": "done",
    "approve": "approved",
}


def photo_png(width: int = 160, height: int = 120, seed: int = 0) -> bytes:
    """A noisy RGB PNG (~57 KB: noise does not compress), like a small phone photo."""
    rng = random.Random(seed)
    rows = b"".join(b"\x00" + rng.randbytes(width * 3) for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 1))
        + chunk(b"IEND", b"")
    )


@dataclass
class User:
    id: int
    login: str
    role: str
    token: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Company:
    """What the workload works with, made by `seed()` through the API."""

    admin: User
    office: list[User]
    engineers: list[User]
    checkers: list[User]
    group_id: int
    counterparties: list[dict[str, Any]]  # {"id", "name", "site_id", "contact_id", "lat", "lon"}
    password: str


@dataclass
class Recorder:
    """Every request (start, end, endpoint, status) and every acknowledged write."""

    started: float = field(default_factory=time.monotonic)
    samples: list[tuple[float, float, str, int]] = field(default_factory=list)
    # create marker -> the acknowledged task id, or None while not acknowledged
    creates: dict[str, int | None] = field(default_factory=dict)
    # (event kind, task id, actor id) for every acknowledged transition
    acked: list[tuple[str, int, int]] = field(default_factory=list)
    # attachment file name -> the acknowledged attachment id, or None
    attachments: dict[str, int | None] = field(default_factory=dict)
    accept_tries: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))
    accept_wins: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))
    replays: int = 0  # writes sent again with their key after a lost answer

    def now(self) -> float:
        return time.monotonic() - self.started


class Api:
    """aiohttp against one base URL; records each attempt; resends keyed writes."""

    def __init__(
        self, base_url: str, recorder: Recorder, timeout_s: float, retries: int = 4
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.rec = recorder
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.retries = retries
        self.session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Api:
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=None),
            timeout=self.timeout,
            headers={"Accept-Language": "en"},
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.session is not None
        await self.session.close()

    async def once(
        self,
        endpoint: str,
        method: str,
        path: str,
        user: User | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        assert self.session is not None
        all_headers = {**(user.headers if user else {}), **(headers or {})}
        t0 = self.rec.now()
        status, data, answer_headers = NO_ANSWER, None, {}
        try:
            async with self.session.request(
                method, self.base_url + path, json=body, headers=all_headers
            ) as resp:
                status = resp.status
                answer_headers = {k.lower(): v for k, v in resp.headers.items()}
                if resp.content_type == "application/json":
                    data = await resp.json()
                else:
                    data = await resp.read()
        except TimeoutError:
            status = TIMEOUT
        except (aiohttp.ClientError, OSError):
            status = NO_ANSWER
        self.rec.samples.append((t0, self.rec.now(), endpoint, status))
        return status, data, answer_headers

    async def write(
        self,
        endpoint: str,
        path: str,
        user: User,
        body: Any = None,
        key: str | None = None,
    ) -> tuple[int, Any]:
        """A POST with an Idempotency-Key, sent again with the same key while the answer is
        lost (0.5 s, 1 s, 2 s … between tries)."""
        headers = {"Idempotency-Key": key or uuid.uuid4().hex}
        delay = 0.5
        for attempt in range(self.retries + 1):
            if attempt:
                self.rec.replays += 1
            status, data, _ = await self.once(endpoint, "POST", path, user, body, headers)
            if status not in RETRYABLE or attempt == self.retries:
                break
            await asyncio.sleep(delay)
            delay = min(delay * 2, 4.0)
        return status, data


# --- the company ----------------------------------------------------------------------------


async def seed(
    api: Api,
    admin_login: str,
    password: str,
    *,
    office: int,
    engineers: int,
    checkers: int,
    mail_domain: str,
) -> Company:
    """Users, counterparties with a site and a contact each, through the API as an admin.
    Engineers 1 and 2 and the checkers have e-mail addresses (so visits send mail), the
    rest do not; every contact has one (completed visits mail the client)."""
    status, data, _ = await api.once(
        "seed", "POST", "/api/auth/login", body={"login": admin_login, "password": password}
    )
    if status != 200:
        raise RuntimeError(f"admin login failed: {status} {data!r}")
    admin = User(data["user"]["id"], admin_login, "admin", data["token"])
    status, groups, _ = await api.once("seed", "GET", "/api/groups", admin)
    group_id = next(g["id"] for g in groups if g["name"] == GROUP)

    async def make_user(role: str, n: int, email: bool) -> User:
        login = f"{role}{n}"
        body: dict[str, Any] = {
            "login": login,
            "password": password,
            "full_name": f"{role.title()} {n}",
            "surname": f"{role.title()}{n}",
            "roles": [role],
            "group_ids": [group_id] if role in ("engineer", "checker") else [],
        }
        if email:
            body["email"] = f"{login}@{mail_domain}"
        status, data, _ = await api.once("seed", "POST", "/api/users", admin, body)
        if status != 201:
            raise RuntimeError(f"creating {login}: {status} {data!r}")
        return User(data["id"], login, role)

    people = [
        *(make_user("office", n, False) for n in range(1, office + 1)),
        *(make_user("engineer", n, n <= 2) for n in range(1, engineers + 1)),
        *(make_user("checker", n, True) for n in range(1, checkers + 1)),
    ]
    users = await asyncio.gather(*people)
    counterparties = []
    for n, name in enumerate(COUNTERPARTIES):
        status, cp, _ = await api.once("seed", "POST", "/api/counterparties", admin, {"name": name})
        if status != 201:
            raise RuntimeError(f"counterparty {name}: {status} {cp!r}")
        lat, lon = MOSCOW[0] + n * 0.01, MOSCOW[1] + n * 0.01
        site_body = {
            "counterparty_id": cp["id"],
            "name": f"{name}, точка 1",
            "address": f"Москва, ул. Тверская, {n + 1}",
            "lat": lat,
            "lon": lon,
        }
        status, site, _ = await api.once("seed", "POST", "/api/sites", admin, site_body)
        if status != 201:
            raise RuntimeError(f"site of {name}: {status} {site!r}")
        contact_body = {
            "name": f"Директор {name}",
            "email": f"client{n}@{mail_domain}",
            "counterparty_id": cp["id"],
        }
        status, contact, _ = await api.once("seed", "POST", "/api/contacts", admin, contact_body)
        if status != 201:
            raise RuntimeError(f"contact of {name}: {status} {contact!r}")
        counterparties.append(
            {
                "id": cp["id"],
                "name": name,
                "site_id": site["id"],
                "contact_id": contact["id"],
                "lat": lat,
                "lon": lon,
            }
        )

    async def login(user: User) -> None:
        body = {"login": user.login, "password": password}
        status, data, _ = await api.once("seed", "POST", "/api/auth/login", body=body)
        if status != 200:
            raise RuntimeError(f"login {user.login}: {status} {data!r}")
        user.token = data["token"]

    await asyncio.gather(*(login(u) for u in users))
    return Company(
        admin=admin,
        office=[u for u in users if u.role == "office"],
        engineers=[u for u in users if u.role == "engineer"],
        checkers=[u for u in users if u.role == "checker"],
        group_id=group_id,
        counterparties=counterparties,
        password=password,
    )


# --- the people -----------------------------------------------------------------------------


class Workload:
    def __init__(
        self,
        api: Api,
        company: Company,
        *,
        think_s: float,
        create_every_s: float,
        seed: int = 20,
    ) -> None:
        self.api = api
        self.rec = api.rec
        self.company = company
        self.think_s = think_s
        self.create_every_s = create_every_s
        self.stop = asyncio.Event()
        self.rng = random.Random(seed)
        self.photo = base64.b64encode(photo_png(seed=seed)).decode()
        self.photographed: set[int] = set()

    async def run(self, seconds: float | None = None) -> None:
        """Everyone works until stop() (or `seconds`)."""
        people = [
            *(self._office(u, n) for n, u in enumerate(self.company.office)),
            *(self._engineer(u) for u in self.company.engineers),
            *(self._checker(u) for u in self.company.checkers),
        ]
        tasks = [asyncio.create_task(p) for p in people]
        if seconds is not None:
            await asyncio.sleep(seconds)
            self.stop.set()
        await asyncio.gather(*tasks)

    async def _pause(self, seconds: float) -> None:
        # jittered, so the people do not march in step
        delay = seconds * self.rng.uniform(0.5, 1.5)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), delay)

    async def _transition(
        self, user: User, task_id: int, action: str, body: Any = None
    ) -> tuple[int, Any]:
        status, data = await self.api.write(
            f"POST /api/tasks/{{id}}/{action}", f"/api/tasks/{task_id}/{action}", user, body
        )
        if 200 <= status < 300:
            self.rec.acked.append((EVENT_OF[action], task_id, user.id))
        return status, data

    # engineers

    async def _engineer(self, me: User) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            status, data, _ = await self.api.once(
                "GET /api/tasks?queue=mine",
                "GET",
                f"/api/tasks?queue=mine&template=field_visit&status={OPEN}&limit=20",
                me,
            )
            if status == 200:
                items = data["items"]
                mine = [t for t in items if (t["assignee"] or {}).get("id") == me.id]
                waiting = [t for t in items if t["status"] == "new" and not t["assignee"]]
                if mine:
                    await self._advance(me, mine[-1])
                elif waiting:
                    await self._accept(me, waiting[-1]["id"])
            if n % 5 == 0:
                await self.api.once("GET /api/me/feed", "GET", "/api/me/feed?limit=20", me)
            await self._pause(self.think_s)

    async def _accept(self, me: User, task_id: int) -> None:
        self.rec.accept_tries[task_id].add(me.id)
        status, _data = await self._transition(me, task_id, "accept")
        if status == 200:
            self.rec.accept_wins[task_id].add(me.id)

    async def _advance(self, me: User, task: dict[str, Any]) -> None:
        tid = task["id"]
        if self.rng.random() < 0.5:  # the card is opened before the button is pressed
            await self.api.once("GET /api/tasks/{id}", "GET", f"/api/tasks/{tid}", me)
        if task["status"] == "accepted":
            await self._transition(me, tid, "depart")
        elif task["status"] == "en_route":
            cp = next(
                (c for c in self.company.counterparties if c["id"] == task["counterparty"]["id"]),
                self.company.counterparties[0],
            )
            here = {
                "lat": cp["lat"] + self.rng.uniform(-0.001, 0.001),
                "lon": cp["lon"] + self.rng.uniform(-0.001, 0.001),
            }
            await self._transition(me, tid, "arrive", here)
        elif task["status"] == "in_progress":
            if tid not in self.photographed:
                name = f"scale-{tid}-{uuid.uuid4().hex[:8]}.png"
                self.rec.attachments[name] = None
                body = {
                    "filename": name,
                    "content_type": "image/png",
                    "data_base64": self.photo,
                    "caption": "Касса после замены ФН",
                }
                status, data = await self.api.write(
                    "POST /api/tasks/{id}/attachments", f"/api/tasks/{tid}/attachments", me, body
                )
                if status == 201:
                    self.rec.attachments[name] = data["id"]
                    self.photographed.add(tid)
                return
            works = {"completed_works": "Заменил фискальный накопитель, проверил печать чека"}
            await self._transition(me, tid, "done", works)

    # office

    async def _office(self, me: User, index: int) -> None:
        n = 0
        await self._pause(self.create_every_s * index / max(1, len(self.company.office)))
        while not self.stop.is_set():
            n += 1
            await self._create(me)
            if n % 4 == 0:
                await self._assign(me)
            if n % 10 == 0:
                since = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2)).isoformat()
                await self.api.once(
                    "GET /api/tasks/export.csv",
                    "GET",
                    f"/api/tasks/export.csv?template=field_visit&created_from={quote(since)}",
                    me,
                )
            await self._pause(self.create_every_s)

    async def _create(self, me: User) -> None:
        cp = self.rng.choice(self.company.counterparties)
        marker = uuid.uuid4().hex
        self.rec.creates[marker] = None
        body = {
            "template": "field_visit",
            "title": f"{cp['name']}: не печатает чек",
            "description": f"scale:{marker}",
            "counterparty_id": cp["id"],
            "site_id": cp["site_id"],
            "requester_contact_id": cp["contact_id"],
        }
        status, data = await self.api.write("POST /api/tasks", "/api/tasks", me, body)
        if status == 201:
            self.rec.creates[marker] = data["id"]

    async def _assign(self, me: User) -> None:
        status, data, _ = await self.api.once(
            "GET /api/tasks?status=new",
            "GET",
            "/api/tasks?status=new&template=field_visit&limit=10",
            me,
        )
        if status != 200 or not data["items"]:
            return
        task_id = data["items"][-1]["id"]
        engineer = self.rng.choice(self.company.engineers)
        status, _ = await self._transition(me, task_id, "assign", {"user_id": engineer.id})
        if status == 200:
            self.rec.accept_wins[task_id].add(engineer.id)

    # checkers

    async def _checker(self, me: User) -> None:
        while not self.stop.is_set():
            status, data, _ = await self.api.once(
                "GET /api/tasks?status=done",
                "GET",
                "/api/tasks?status=done&template=field_visit&limit=20",
                me,
            )
            if status == 200:
                for task in data["items"][-3:]:
                    await self._transition(me, task["id"], "approve")
            await self._pause(self.think_s * 2)
