"""Print forms rendered for real (WeasyPrint) and read back with pypdf."""

from __future__ import annotations

import asyncio
import io
import os
import re
import subprocess
import sys
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
from pypdf import PdfReader

from printing import render as render_module
from printing.documents import Signature, SpecLine, TaskDocument
from printing.fetcher import BundledOnlyFetcher
from printing.labels import LABELS
from printing.render import (
    KINDS,
    RenderTimeout,
    build_html,
    render,
    render_async,
    render_completion_act,
    render_work_order,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
OUTPUT_DIR = REPO_ROOT / "test-output" / "printing"

DocFactory = Callable[..., TaskDocument]
LineFactory = Callable[..., SpecLine]
Pages = Callable[[bytes], list[str]]


def squeeze(text: str) -> str:
    """Without whitespace: a long literal may wrap across lines in the PDF's text."""
    return re.sub(r"\s+", "", text)


def ru_money(value: Decimal) -> str:
    return f"{value:,.2f}".replace(",", " ").replace(".", ",")


# --- content ---------------------------------------------------------------------------------


def test_work_order_in_russian_has_key_fields(doc_factory: DocFactory, pdf_pages: Pages) -> None:
    pages = pdf_pages(render_work_order(doc_factory()))
    text = " ".join(pages)

    assert len(pages) == 1
    for expected in (
        "Заказ-наряд № 1042 от 24.11.2026",
        "ООО «Сервис-Плюс»",
        "ИНН 7701234567",
        "Заказчик ООО «Ромашка»",
        "Офис на Тверской",
        "г. Москва, ул. Тверская, д. 7, стр. 2",
        "Петрова Анна, +7 916 000-11-22",
        "Иванов Иван Иванович",
        "Не работает кондиционер в серверной",
        "Кондиционер не охлаждает.",
        "Прибытие на объект 24.11.2026 11:05",
        "Спецификация работ и материалов",
        "Замена фильтра тонкой очистки, позиция 6",
        "Исполнитель работ: Иванов И. И.",
        "Выполненные работы",
        "Заменён фильтр, дозаправлен фреон R410A.",
        "Работы принял (заказчик)",
        "Петрова А. С.",
        "Стр. 1 из 1",
    ):
        assert expected in text, expected


def test_completion_act_in_russian(doc_factory: DocFactory, pdf_pages: Pages) -> None:
    text = " ".join(pdf_pages(render_completion_act(doc_factory())))

    for expected in (
        "Акт выполненных работ № 1042 от 24.11.2026",
        "к заказ-наряду № 1042",
        "Исполнитель ООО «Сервис-Плюс»",
        "Заказчик ООО «Ромашка»",
        "Заказчик претензий",
        "Стр. 1 из 1",
    ):
        assert expected in text, expected


def test_english_labels(doc_factory: DocFactory, pdf_pages: Pages) -> None:
    doc = doc_factory(language="en")
    order = " ".join(pdf_pages(render_work_order(doc)))
    act = " ".join(pdf_pages(render_completion_act(doc)))

    for expected in (
        "Work order No. 1042 dated 24 Nov 2026",
        "Customer",
        "Works and materials",
        "Total due:",
        "Page 1 of 1",
        "ООО «Ромашка»",
    ):
        assert expected in order, expected
    assert "Certificate of completion No. 1042" in act
    assert "Заказчик" not in order and "Стр." not in order
    assert "1,250.50" in order  # English number format


def test_label_sets_match() -> None:
    assert LABELS["ru"].keys() == LABELS["en"].keys()


def test_cyrillic_uses_only_the_bundled_font(doc_factory: DocFactory) -> None:
    pdf = render_work_order(doc_factory())

    fonts = set()
    for page in PdfReader(io.BytesIO(pdf)).pages:
        resources: Any = page["/Resources"]
        for font in resources["/Font"].values():
            fonts.add(str(font.get_object()["/BaseFont"]).split("+", 1)[-1])
    # Only the @font-face family (named after its CSS family, so not the system DejaVu) and
    # no fallback font: every glyph, Cyrillic included, came from the bundled files.
    assert fonts == {"Naryad-Sans", "Naryad-Sans-Bold"}
    served = render_module._resources().fetcher.served
    assert any(url.endswith("/printing/fonts/DejaVuSans.ttf") for url in served)
    assert any(url.endswith("/printing/fonts/DejaVuSans-Bold.ttf") for url in served)


def test_document_without_optional_parts(doc_factory: DocFactory, pdf_pages: Pages) -> None:
    doc = doc_factory(
        lines=[],
        signature=None,
        link_url=None,
        description="",
        completed_works="",
        accepted_at=None,
        arrived_at=None,
        done_at=None,
    )
    for kind in KINDS:
        text = " ".join(pdf_pages(render(kind, doc)))
        assert "Позиции не указаны." in text


# --- injection -------------------------------------------------------------------------------


def test_markup_in_user_text_is_literal_and_fetches_nothing(
    doc_factory: DocFactory,
    line_factory: LineFactory,
    pdf_pages: Pages,
    png_factory: Callable[..., bytes],
    trap_server: Any,
) -> None:
    base = trap_server.base
    injections = [
        f'<img src="{base}/x.png">',
        '<link rel=stylesheet href="file:///etc/passwd">',
        f"<style>body{{background:url({base}/y)}}</style>",
    ]
    everything = " ".join(injections)
    doc = doc_factory(
        title=injections[0],
        description="\n".join(injections),
        completed_works=everything,
        counterparty=injections[1],
        site_address=f'<iframe src="{base}/frame"></iframe>',
        lines=[line_factory(1, name=injections[2], performer=injections[0])],
        signature=Signature(png=png_factory(), signer_name=injections[1]),
        link_url=f'https://naryad.example.ru/t?q="><img src="{base}/q.png">',
    )

    for kind in KINDS:
        html = build_html(kind, doc)
        assert '<img src="http' not in html and "<style>body" not in html
        assert "&lt;img src=&#34;http://127.0.0.1" in html

        fetcher = BundledOnlyFetcher()
        text = squeeze(" ".join(pdf_pages(render(kind, doc, url_fetcher=fetcher))))

        for injection in injections:
            assert squeeze(injection) in text, injection
        assert "root:x:0:0" not in text
        # Only our own embedded images (QR code, signature) were asked for, nothing else.
        assert fetcher.refused == []
        assert fetcher.served and all(url.startswith("data:") for url in fetcher.served)

    assert trap_server.requests == []


# --- pagination and totals -------------------------------------------------------------------


def forty_lines(line_factory: LineFactory) -> list[SpecLine]:
    lines = []
    for i in range(1, 41):
        lines.append(
            line_factory(
                i,
                name=(
                    f"Позиция {i}: монтаж кабельной трассы с креплением к потолку, "
                    "прокладкой в гофре и маркировкой каждого кабеля"
                    if i % 6 == 0
                    else f"Позиция {i}: замена фильтра"
                ),
                quantity=Decimal("1.5") if i % 7 == 0 else Decimal(i % 5 + 1),
                price=Decimal("1234.57") + i,
                discount_percent=Decimal("7.5") if i % 3 == 0 else Decimal("0"),
                vat_rate=None if i % 10 == 5 else Decimal("0") if i % 10 == 0 else Decimal("20"),
            )
        )
    return lines


def expected_totals(lines: list[SpecLine]) -> dict[str, Decimal]:
    """The pricing rule written out independently of printing.totals (the test's oracle)."""
    cent = Decimal("0.01")
    subtotal = total = vat = Decimal("0")
    for line in lines:
        exact = line.quantity * line.price
        gross = exact.quantize(cent, rounding=ROUND_HALF_UP)
        net = (exact * (100 - line.discount_percent) / 100).quantize(cent, rounding=ROUND_HALF_UP)
        rate = line.vat_rate or Decimal("0")
        vat += (net * rate / (100 + rate)).quantize(cent, rounding=ROUND_HALF_UP)
        subtotal += gross
        total += net
    return {"subtotal": subtotal, "discount": subtotal - total, "total": total, "vat": vat}


def test_forty_lines_split_across_pages_with_repeated_header(
    doc_factory: DocFactory, line_factory: LineFactory, pdf_pages: Pages
) -> None:
    lines = forty_lines(line_factory)
    pages = pdf_pages(render_work_order(doc_factory(lines=lines)))

    assert len(pages) >= 2
    for number, page in enumerate(pages, start=1):
        assert f"Стр. {number} из {len(pages)}" in page
    table_pages = [p for p in pages if "Позиция" in p]
    assert len(table_pages) >= 2
    for page in table_pages:
        # The header row is printed once on every page the table reaches.
        assert page.count("Наименование") == 1
        assert "Цена" in page and "Сумма" in page
    # Rows never split: each row's whole name is on exactly one page.
    for i, line in enumerate(lines, start=1):
        holders = [p for p in pages if squeeze(line.name) in squeeze(p)]
        assert len(holders) == 1, f"row {i} is split or missing"

    expected = expected_totals(lines)
    last = pages[-1]
    assert f"Итого без скидки: {ru_money(expected['subtotal'])}" in last
    assert f"Скидка: {ru_money(expected['discount'])}" in last
    assert f"Итого к оплате: {ru_money(expected['total'])}" in last
    assert f"в т.ч. НДС: {ru_money(expected['vat'])}" in last
    assert f"Всего наименований 40, на сумму {ru_money(expected['total'])} руб." in last


def test_line_amounts_printed(
    doc_factory: DocFactory, line_factory: LineFactory, pdf_pages: Pages
) -> None:
    # 3 × 33.33 = 99.99, minus 10 % = 89.991 -> 89.99; VAT 20 % inside: 14.9983 -> 15.00
    line = line_factory(
        1,
        quantity=Decimal("3"),
        price=Decimal("33.33"),
        discount_percent=Decimal("10"),
        vat_rate=Decimal("20"),
    )
    no_vat = line_factory(2, quantity=Decimal("1"), price=Decimal("10"), vat_rate=None)
    text = " ".join(pdf_pages(render_work_order(doc_factory(lines=[line, no_vat]))))

    assert "33,33 10 89,99 20 15,00" in text
    assert "без НДС" in text
    assert "Итого к оплате: 99,99" in text
    assert "в т.ч. НДС: 15,00" in text


def test_amounts_in_millions_stay_on_one_line(
    doc_factory: DocFactory, line_factory: LineFactory, pdf_pages: Pages
) -> None:
    big = line_factory(
        1, quantity=Decimal("3"), price=Decimal("4567890.12"), discount_percent=Decimal(0)
    )
    text = " ".join(pdf_pages(render_completion_act(doc_factory(lines=[big]))))
    # 13 703 670,36 × 20 / 120 = 2 283 945,06 — each printed whole, not broken across lines.
    assert "4 567 890,12 13 703 670,36 20 2 283 945,06" in text


# --- determinism -----------------------------------------------------------------------------


def test_same_document_same_bytes(doc_factory: DocFactory) -> None:
    assert render_module.HARFBUZZ_SUBSET_AVAILABLE, (
        "install libharfbuzz-subset0: without it fonts embed the current time"
    )
    doc = doc_factory()
    for kind in KINDS:
        assert render(kind, doc) == render(kind, doc)


def test_same_bytes_in_a_fresh_process(doc_factory: DocFactory) -> None:
    doc = doc_factory()
    code = (
        "import sys, msgspec\n"
        "from printing.documents import TaskDocument\n"
        "from printing.render import render_work_order\n"
        "doc = msgspec.json.decode(sys.stdin.buffer.read(), type=TaskDocument)\n"
        "sys.stdout.buffer.write(render_work_order(doc))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code],
        input=msgspec.json.encode(doc),
        capture_output=True,
        cwd=REPO_ROOT,
        env=env,
        timeout=120,
        check=True,
    )
    assert result.stdout == render_work_order(doc)


# --- time limit ------------------------------------------------------------------------------


async def test_render_async_returns_pdf(doc_factory: DocFactory) -> None:
    pdf = await render_async("completion_act", doc_factory())
    assert pdf.startswith(b"%PDF-")


async def test_render_async_times_out(doc_factory: DocFactory, line_factory: LineFactory) -> None:
    big = doc_factory(lines=forty_lines(line_factory))
    with pytest.raises(RenderTimeout):
        await render_async("work_order", big, timeout_s=0.001)
    # The worker is still usable once the abandoned render has finished.
    pdf = await render_async("work_order", doc_factory(), timeout_s=60)
    assert pdf.startswith(b"%PDF-")


def test_sync_render_with_time_limit(doc_factory: DocFactory, line_factory: LineFactory) -> None:
    big = doc_factory(lines=forty_lines(line_factory))
    with pytest.raises(RenderTimeout):
        render("work_order", big, timeout_s=0.001)
    assert render("work_order", doc_factory(), timeout_s=60).startswith(b"%PDF-")


def test_async_wrapper_does_not_block_the_loop(doc_factory: DocFactory) -> None:
    async def main() -> int:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.005)

        task = asyncio.create_task(ticker())
        await render_async("work_order", doc_factory())
        task.cancel()
        return ticks

    assert asyncio.run(main()) > 1


# --- input validation ------------------------------------------------------------------------


def test_rejects_bad_input(doc_factory: DocFactory, png_factory: Callable[..., bytes]) -> None:
    with pytest.raises(ValueError, match="PNG"):
        Signature(png=b"GIF89a" + b"\0" * 40)
    with pytest.raises(ValueError, match="too large"):
        Signature(png=png_factory(5000, 1))
    with pytest.raises(ValueError, match="http"):
        doc_factory(link_url="javascript:alert(1)")
    with pytest.raises(ValueError, match="timezone"):
        doc_factory(timezone="../../etc/passwd")
    # Length limits hold for structs built in code too, not only for decoded JSON.
    with pytest.raises(ValueError, match="title"):
        doc_factory(title="x" * 501)
    with pytest.raises(ValueError, match="lines"):
        doc_factory(lines=doc_factory().lines * 200)
    with pytest.raises(msgspec.ValidationError, match="discount_percent"):
        msgspec.json.decode(
            b'{"name":"x","quantity":"1","price":"1","discount_percent":"150"}', type=SpecLine
        )


# --- a picture for a person ------------------------------------------------------------------


def test_png_preview_for_a_person(doc_factory: DocFactory, line_factory: LineFactory) -> None:
    """Writes test-output/printing/*.png: open them to see what a client gets."""
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    samples = {
        "work_order": render_work_order(doc_factory()),
        "completion_act": render_completion_act(doc_factory()),
        "work_order_40_lines": render_work_order(doc_factory(lines=forty_lines(line_factory))),
        "work_order_en": render_work_order(doc_factory(language="en")),
    }
    for name, pdf in samples.items():
        pdf_path = OUTPUT_DIR / f"{name}.pdf"
        pdf_path.write_bytes(pdf)
        for page in (1, 2) if name == "work_order_40_lines" else (1,):
            target = OUTPUT_DIR / f"{name}-page{page}"
            subprocess.run(
                [
                    "pdftoppm",
                    "-png",
                    "-r",
                    "100",
                    "-f",
                    str(page),
                    "-l",
                    str(page),
                    "-singlefile",
                    str(pdf_path),
                    str(target),
                ],
                check=True,
                timeout=60,
            )
            png = target.with_suffix(".png")
            assert png.exists()
            # A blank A4 page at 100 dpi compresses to a few KB; a real form is far larger.
            assert png.stat().st_size > 30_000, png


def test_qr_code_scans_to_the_link(doc_factory: DocFactory, tmp_path: Path) -> None:
    url = "https://naryad.example.ru/tasks/1042?tab=work"
    pdf_path = tmp_path / "order.pdf"
    pdf_path.write_bytes(render_work_order(doc_factory(link_url=url)))
    subprocess.run(
        ["pdftoppm", "-png", "-r", "150", "-singlefile", str(pdf_path), str(tmp_path / "page")],
        check=True,
        timeout=60,
    )
    scan = subprocess.run(
        ["zbarimg", "--quiet", "--raw", str(tmp_path / "page.png")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert scan.stdout.split() == [url]
