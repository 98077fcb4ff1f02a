"""A realistic sample task for previews, the benchmark and manual checks.

`python -m printing.sample out.pdf [work_order|completion_act] [ru|en]` writes a sample form.
"""

from __future__ import annotations

import datetime as dt
import sys
from decimal import Decimal
from pathlib import Path
from typing import get_args

from printing.documents import Company, Language, Signature, SpecLine, TaskDocument
from printing.png import RGBA, encode_png

_MSK = dt.timezone(dt.timedelta(hours=3))


def signature_png(width: int = 240, height: int = 80) -> bytes:
    """A zigzag "signature" as a transparent RGBA PNG, like the phone's signature pad sends."""
    ink, paper = bytes((20, 20, 120, 255)), bytes((255, 255, 255, 0))
    rows = [
        b"".join(ink if abs(y - (height // 2 + (x % 40 - 20))) < 2 else paper for x in range(width))
        for y in range(height)
    ]
    return encode_png(width, height, rows, RGBA)


def sample_document(lines: int = 6, language: Language = "ru") -> TaskDocument:
    """A one-page work order with `lines` specification lines (6 fit one A4 page)."""
    names = (
        "Диагностика системы кондиционирования",
        "Фильтр тонкой очистки FX-200",
        "Дозаправка фреоном R410A",
        "Замена дренажного насоса",
        "Чистка теплообменника внутреннего блока",
        "Выезд инженера в пределах МКАД",
    )
    spec = [
        SpecLine(
            name=names[i % len(names)],
            unit=("шт", "кг", "усл.")[i % 3],
            quantity=Decimal("0.8") if i % 3 == 1 else Decimal(1 + i % 2),
            price=Decimal("1250.50") + 500 * i,
            discount_percent=Decimal("10") if i % 4 == 3 else Decimal("0"),
            vat_rate=Decimal("20"),
            performer="Иванов И. И." if i == 3 else None,
        )
        for i in range(lines)
    ]
    return TaskDocument(
        company=Company(
            name="ООО «Сервис-Плюс»",
            address="г. Москва, ул. Ленина, д. 1, офис 5",
            phone="+7 495 123-45-67",
            inn="7701234567",
            email="info@service-plus.ru",
        ),
        number=1042,
        title="Не работает кондиционер в серверной",
        description="Кондиционер в серверной не охлаждает.\nТемпература 31 °C.",
        created_at=dt.datetime(2026, 11, 24, 9, 15, tzinfo=_MSK),
        accepted_at=dt.datetime(2026, 11, 24, 9, 40, tzinfo=_MSK),
        arrived_at=dt.datetime(2026, 11, 24, 11, 5, tzinfo=_MSK),
        done_at=dt.datetime(2026, 11, 24, 13, 30, tzinfo=_MSK),
        counterparty="ООО «Ромашка»",
        site_name="Офис на Тверской",
        site_address="г. Москва, ул. Тверская, д. 7, стр. 2",
        contact_name="Петрова Анна",
        contact_phone="+7 916 000-11-22",
        assignee="Иванов Иван Иванович",
        completed_works=(
            "Проведена диагностика.\nЗаменён фильтр, дозаправлен фреон R410A (0,8 кг).\n"
            "Проверена работа в течение 30 минут."
        ),
        lines=spec,
        signature=Signature(
            png=signature_png(),
            signer_name="Петрова А. С.",
            signed_at=dt.datetime(2026, 11, 24, 13, 40, tzinfo=_MSK),
        ),
        link_url="https://naryad.example.ru/tasks/1042",
        language=language,
    )


def main(argv: list[str]) -> int:
    from printing.render import KINDS, render  # WeasyPrint loads only when rendering

    if not argv or len(argv) > 3:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    kind = argv[1] if len(argv) > 1 else "work_order"
    language = argv[2] if len(argv) > 2 else "ru"
    if kind not in KINDS or language not in get_args(Language):
        print(f"kind: one of {KINDS}; language: ru or en", file=sys.stderr)
        return 2
    Path(argv[0]).write_bytes(render(kind, sample_document(language=language)))  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
