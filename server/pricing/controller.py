"""HTTP for the price list, specifications, signatures and print forms (issue 7).

Decimal values travel as JSON strings ("1250.50"); see server/pricing/schemas.py.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import Provide

from server.lib.actor import Actor
from server.lib.errors import InvalidInput
from server.lib.guards import ADMIN, ANYONE, EMPLOYEES
from server.pricing import documents, price_list, service, signatures
from server.pricing.documents import DocumentConfig
from server.pricing.schemas import (
    LineIn,
    LineOut,
    LinePatch,
    PriceItemIn,
    PriceItemOut,
    PriceItemPatch,
    SignatureIn,
    SignatureOut,
    SpecificationOut,
)
from server.settings import Settings
from server.tasks import idempotency

PricingRequest = Request[Actor, str, Any]
_ARCHIVED = {"false": False, "true": True, "all": None}


def _document_config(settings: Settings) -> DocumentConfig:
    return DocumentConfig(public_url=settings.public_url, print_settings=settings)


class PriceListController(Controller):
    path = "/api/price-list"
    tags = ["pricing"]

    @post("/", guards=[ADMIN], status_code=201)
    async def create_item(self, data: PriceItemIn, request: PricingRequest) -> PriceItemOut:
        """Add a work, service or product. Prices include VAT; vat_rate null = «без НДС»."""
        return await price_list.create_price_item(request.user, data)

    @get("/", guards=[EMPLOYEES])
    async def list_items(
        self, q: str | None = None, archived: str = "false", kind: str | None = None
    ) -> list[PriceItemOut]:
        """archived: false (default, current items), true (archived only) or all."""
        if archived.lower() not in _ARCHIVED:
            raise InvalidInput("pricing.archived_must_false_true", archived=archived)
        return await price_list.list_price_items(
            q=q, archived=_ARCHIVED[archived.lower()], kind=kind or None
        )

    @get("/{item_id:int}", guards=[EMPLOYEES])
    async def get_item(self, item_id: int) -> PriceItemOut:
        return await price_list.get_price_item(item_id)

    @patch("/{item_id:int}", guards=[ADMIN])
    async def update_item(
        self, item_id: int, data: PriceItemPatch, request: PricingRequest
    ) -> PriceItemOut:
        """Change fields, or archive with {"archived": true}."""
        return await price_list.update_price_item(request.user, item_id, data)


class TaskPrintController(Controller):
    """Specification, signature and print forms of a task."""

    path = "/api/tasks"
    tags = ["specification"]
    guards = [ANYONE]
    # Read per request (a few environment lookups): a cached value would be shared by every
    # app built in the process, whatever its settings.
    dependencies = {"document_config": Provide(_document_config, sync_to_thread=False)}

    @get("/{task_id:int}/specification")
    async def specification(self, task_id: int, request: PricingRequest) -> SpecificationOut:
        """Lines with amounts and totals. Per line, in kopecks, ROUND_HALF_UP:
        total = round(q × p × (1 − d/100)), VAT = round(total × r / (100 + r)) (prices
        include VAT); document totals are sums of the rounded lines."""
        return await service.get_specification(request.user, task_id)

    @post("/{task_id:int}/specification/lines", guards=[EMPLOYEES], status_code=201)
    async def add_line(
        self, task_id: int, data: LineIn, request: PricingRequest
    ) -> Response[LineOut]:
        return await idempotency.respond_once(
            request, lambda: service.add_line(request.user, task_id, data), 201
        )

    @patch("/{task_id:int}/specification/lines/{line_id:int}", guards=[EMPLOYEES])
    async def update_line(
        self, task_id: int, line_id: int, data: LinePatch, request: PricingRequest
    ) -> Response[LineOut]:
        return await idempotency.respond_once(
            request, lambda: service.update_line(request.user, task_id, line_id, data)
        )

    @delete("/{task_id:int}/specification/lines/{line_id:int}", guards=[EMPLOYEES], status_code=200)
    async def delete_line(
        self, task_id: int, line_id: int, request: PricingRequest
    ) -> Response[LineOut]:
        """Remove a line; answers with the removed line."""
        return await idempotency.respond_once(
            request, lambda: service.delete_line(request.user, task_id, line_id)
        )

    @post("/{task_id:int}/specification/unlock", guards=[ADMIN], status_code=200)
    async def unlock(self, task_id: int, request: PricingRequest) -> Response[SpecificationOut]:
        """Reopen the specification of a completed or cancelled task (recorded in history)."""
        return await idempotency.respond_once(
            request, lambda: service.unlock_specification(request.user, task_id)
        )

    @post("/{task_id:int}/specification/lock", guards=[ADMIN], status_code=200)
    async def lock(self, task_id: int, request: PricingRequest) -> Response[SpecificationOut]:
        """Lock an unlocked specification again."""
        return await idempotency.respond_once(
            request, lambda: service.lock_specification(request.user, task_id)
        )

    @post("/{task_id:int}/signature", guards=[EMPLOYEES], status_code=201)
    async def capture_signature(
        self, task_id: int, data: SignatureIn, request: PricingRequest
    ) -> Response[SignatureOut]:
        """JSON {"png_base64", "signer_name"}: the assignee records the client's signature
        before marking the task done; a PNG of at most 512 KB, replacing any earlier one."""
        png = signatures.decode_signature(data.png_base64)
        return await idempotency.respond_once(
            request,
            lambda: signatures.capture_signature(request.user, task_id, png, data.signer_name),
            201,
        )

    @get("/{task_id:int}/signature", media_type="image/png")
    async def signature(self, task_id: int, request: PricingRequest) -> Response[bytes]:
        png, digest = await signatures.get_signature_png(request.user, task_id)
        return Response(png, media_type="image/png", headers={"ETag": f'"{digest}"'})

    @get("/{task_id:int}/work-order.pdf", media_type="application/pdf")
    async def work_order(
        self,
        task_id: int,
        request: PricingRequest,
        document_config: DocumentConfig,
        lang: str | None = None,
    ) -> Response[bytes]:
        """The work order as PDF, in the counterparty's language unless lang=ru|en is given."""
        return _pdf_response(
            request,
            await documents.task_pdf(request.user, task_id, "work_order", lang, document_config),
        )

    @get("/{task_id:int}/completion-act.pdf", media_type="application/pdf")
    async def completion_act(
        self,
        task_id: int,
        request: PricingRequest,
        document_config: DocumentConfig,
        lang: str | None = None,
    ) -> Response[bytes]:
        """The completion act for the client to sign, as PDF; language as for the work order."""
        return _pdf_response(
            request,
            await documents.task_pdf(
                request.user, task_id, "completion_act", lang, document_config
            ),
        )


def _pdf_response(request: PricingRequest, doc: documents.RenderedDocument) -> Response[bytes]:
    etag = f'"{doc.content_hash}"'
    headers = {
        "ETag": etag,
        "Content-Disposition": f'inline; filename="{doc.filename}"',
        # Per user (visibility) and revalidated each time: the data may change any minute.
        "Cache-Control": "private, no-cache",
    }
    if request.headers.get("if-none-match") == etag:
        return Response(b"", status_code=304, headers=headers)
    return Response(doc.pdf, media_type="application/pdf", headers=headers)
