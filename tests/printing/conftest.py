"""Shared data for the print-form tests: a realistic task and helpers to read a PDF back.

Helpers are handed out as fixtures rather than imported: tests/ has no __init__.py files, and
a bare `import conftest` could pick up another folder's conftest.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Callable, Iterator
from decimal import Decimal as D
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from typing import Any

import pytest
from pypdf import PdfReader

from printing.documents import Company, Signature, SpecLine, TaskDocument
from printing.sample import signature_png as make_png

MSK = dt.timezone(dt.timedelta(hours=3))


def spec_line(i: int, **overrides: Any) -> SpecLine:
    fields: dict[str, Any] = {
        "name": f"Замена фильтра тонкой очистки, позиция {i}",
        "unit": "шт",
        "quantity": D("2"),
        "price": D("1250.50"),
        "discount_percent": D("10") if i % 3 == 0 else D("0"),
        "vat_rate": D("20"),
        "performer": "Иванов И. И." if i % 4 == 0 else None,
    }
    fields.update(overrides)
    return SpecLine(**fields)


def make_doc(**overrides: Any) -> TaskDocument:
    fields: dict[str, Any] = {
        "company": Company(
            name="ООО «Сервис-Плюс»",
            address="г. Москва, ул. Ленина, д. 1, офис 5",
            phone="+7 495 123-45-67",
            inn="7701234567",
            email="info@service-plus.ru",
        ),
        "number": 1042,
        "title": "Не работает кондиционер в серверной",
        "description": "Кондиционер не охлаждает.\nТемпература 31 °C.",
        "created_at": dt.datetime(2026, 11, 24, 9, 15, tzinfo=MSK),
        "accepted_at": dt.datetime(2026, 11, 24, 9, 40, tzinfo=MSK),
        "arrived_at": dt.datetime(2026, 11, 24, 11, 5, tzinfo=MSK),
        "done_at": dt.datetime(2026, 11, 24, 13, 30, tzinfo=MSK),
        "counterparty": "ООО «Ромашка»",
        "site_name": "Офис на Тверской",
        "site_address": "г. Москва, ул. Тверская, д. 7, стр. 2",
        "contact_name": "Петрова Анна",
        "contact_phone": "+7 916 000-11-22",
        "assignee": "Иванов Иван Иванович",
        "completed_works": "Проведена диагностика.\nЗаменён фильтр, дозаправлен фреон R410A.",
        "lines": [spec_line(i) for i in range(1, 7)],
        "signature": Signature(
            png=make_png(),
            signer_name="Петрова А. С.",
            signed_at=dt.datetime(2026, 11, 24, 13, 40, tzinfo=MSK),
        ),
        "link_url": "https://naryad.example.ru/tasks/1042",
        "language": "ru",
    }
    fields.update(overrides)
    return TaskDocument(**fields)


def page_texts(pdf: bytes) -> list[str]:
    """Text of each page, whitespace (incl. the non-breaking spaces in amounts) collapsed."""
    reader = PdfReader(io.BytesIO(pdf))
    return [normalize(page.extract_text()) for page in reader.pages]


def normalize(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\u00a0", " ")).strip()


class RequestLog:
    def __init__(self, port: int, requests: list[str]) -> None:
        self.port = port
        self.requests = requests

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def trap_server() -> Iterator[RequestLog]:
    """A local HTTP server that records every request: any hit means a render fetched it."""
    requests: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            self.wfile.write(make_png(4, 4))

        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield RequestLog(server.server_address[1], requests)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def doc_factory() -> Callable[..., TaskDocument]:
    """make_doc(**overrides): the sample task, one A4 page with 6 lines."""
    return make_doc


@pytest.fixture
def line_factory() -> Callable[..., SpecLine]:
    """spec_line(i, **overrides): a sample specification line."""
    return spec_line


@pytest.fixture
def pdf_pages() -> Callable[[bytes], list[str]]:
    """page_texts(pdf): normalized text of each page."""
    return page_texts


@pytest.fixture
def png_factory() -> Callable[..., bytes]:
    return make_png
