"""HTTP for the client portal: ratings, sign-off, the templates a client may use, and the
rating pages of the e-mail links (/rate/…: no login, server-rendered, no scripts)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body

from server.lib.actor import Actor
from server.lib.errors import DomainError, InvalidInput
from server.lib.guards import ANYONE, PUBLIC
from server.portal import pages, service
from server.portal.schemas import RatingIn, SignOffIn, SignOffOut
from server.tasks import service as tasks
from server.tasks.schemas import TaskRating, TemplateOut
from server.tasks.statuses import Channel

PortalRequest = Request[Actor, str, Any]


class PortalTemplate(msgspec.Struct):
    code: str
    name: str
    counterparty_in_title: bool


class TaskRatingController(Controller):
    path = "/api/tasks/{task_id:int}"
    tags = ["portal"]
    guards = [ANYONE]

    @post("/rating", status_code=200)
    async def rate(self, task_id: int, data: RatingIn, request: PortalRequest) -> TaskRating:
        """JSON {"score": 1..5, "comment"?}: the client rates a completed task; a second
        rating within 7 days changes it."""
        return await service.rate_task(request.user, task_id, data.score, data.comment)

    @get("/rating")
    async def rating(self, task_id: int, request: PortalRequest) -> TaskRating | None:
        await tasks.get_task(request.user, task_id)
        return await service.rating_of(task_id)

    @post("/sign-off", status_code=200)
    async def sign_off(self, task_id: int, data: SignOffIn, request: PortalRequest) -> SignOffOut:
        """JSON {"decision": "accept" | "dispute", "comment"?}: the client's answer to a
        finished visit; a dispute needs a comment and tells the office."""
        return await service.sign_off(request.user, task_id, data.decision, data.comment)

    @get("/sign-off")
    async def get_sign_off(self, task_id: int, request: PortalRequest) -> SignOffOut | None:
        return await service.get_sign_off(request.user, task_id)


class PortalController(Controller):
    path = "/api/portal"
    tags = ["portal"]
    guards = [ANYONE]

    @get("/templates")
    async def templates(self) -> list[PortalTemplate]:
        """The templates a client may write a request with (channels include "portal")."""
        found: list[TemplateOut] = await tasks.list_templates()
        return [
            PortalTemplate(t.code, t.name, t.counterparty_in_title)
            for t in found
            if Channel.PORTAL in t.channels
        ]


class RateForm(msgspec.Struct):
    score: str = ""
    comment: str = ""


def _page(status: int, html: str) -> Response[str]:
    return Response(html, status_code=status, media_type="text/html; charset=utf-8")


def _score(raw: str | None) -> int | None:
    if raw in (None, ""):
        return None
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= 5:
        raise InvalidInput("portal.score_number_from")
    return int(raw)


class RatePagesController(Controller):
    """The links of the "completed" mail. Errors are pages too (401 forged, 410 expired),
    all in the reader's language (server/portal/pages.py)."""

    path = "/rate/{task_id:int}/{token:str}"
    tags = ["portal"]
    include_in_schema = False
    opt = PUBLIC

    async def _rate(
        self,
        request: PortalRequest,
        task_id: int,
        token: str,
        score_raw: str | None,
        comment: str | None,
    ) -> Response[str]:
        lang = await pages.language(token, request.headers.get("accept-language"))
        try:
            score = _score(score_raw)
            if score is None:
                service.check_link(token, task_id)
                task = await tasks.get_task_unchecked(task_id)
                current = await service.rating_of(task_id)
                return _page(
                    200,
                    pages.render(
                        lang,
                        heading=pages.word(lang, "title"),
                        task=task,
                        rate_path=f"/rate/{task_id}/{token}",
                        score=current.score if current else None,
                        comment=current.comment if current else "",
                    ),
                )
            rating = await service.rate_by_link(token, task_id, score, comment)
            task = await tasks.get_task_unchecked(task_id)
        except DomainError as exc:
            return _page(exc.status_code, pages.render_error(lang, exc))
        message = (
            pages.word(lang, "saved") if comment else pages.word(lang, "thanks", score=rating.score)
        )
        return _page(
            200,
            pages.render(
                lang,
                heading=pages.word(lang, "title"),
                message=message,
                task=task,
                rate_path=f"/rate/{task_id}/{token}",
                score=rating.score,
                comment=rating.comment,
            ),
        )

    @get("/", media_type="text/html")
    async def open_link(
        self, request: PortalRequest, task_id: int, token: str, score: str | None = None
    ) -> Response[str]:
        """One click: `?score=N` rates (again, within 7 days); without it, the choice."""
        return await self._rate(request, task_id, token, score, None)

    @post("/", media_type="text/html", status_code=200)
    async def comment(
        self,
        request: PortalRequest,
        task_id: int,
        token: str,
        data: Annotated[RateForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Response[str]:
        """The form under the rating: the score again and a comment."""
        return await self._rate(request, task_id, token, data.score or None, data.comment.strip())
