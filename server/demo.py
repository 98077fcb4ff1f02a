"""`naryad seed-demo`: a believable POS/restaurant IT service company.

Everything is created through the services, so the demo data obeys the same rules
(R1–R4, R9, R12) as real data.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import msgspec
from PIL import Image, ImageDraw

from server.accounts import service as accounts
from server.accounts.schemas import UserIn
from server.accounts.tables import User
from server.attachments import service as attachments
from server.attachments.schemas import AttachmentIn
from server.clients import service as clients
from server.clients.schemas import ContactIn, CounterpartyIn, SiteIn
from server.lib import clock
from server.lib.actor import Actor
from server.pricing import price_list, signatures
from server.pricing import service as pricing
from server.pricing.schemas import LineIn, PriceItemIn
from server.tasks import editing, transitions
from server.tasks import service as tasks
from server.tasks.schemas import TaskIn, TaskPatch

DEMO_PASSWORD = "naryad-demo"

# login, full name, surname, roles, groups
STAFF = [
    ("admin", "Администратор Системы", "Администратор", ["admin"], []),
    ("office", "Соколова Марина", "Соколова", ["office"], []),
    ("checker", "Кузнецов Андрей", "Кузнецов", ["checker"], ["Выездные инженеры"]),
    ("ivanov", "Иванов Пётр", "Иванов", ["engineer"], ["Выездные инженеры", "Ремонт"]),
    ("petrov", "Петров Сергей", "Петров", ["engineer"], ["Выездные инженеры", "Доставка"]),
    ("smirnova", "Смирнова Ольга", "Смирнова", ["engineer"], ["Удалённая техподдержка"]),
    ("volkov", "Волков Дмитрий", "Волков", ["engineer"], ["Удалённая техподдержка"]),
    ("buh", "Орлова Елена", "Орлова", ["office"], ["Бухгалтерия"]),
]

CHAIN = ("Кофе Хаус", ["Coffee House"], ["coffeehouse.ru"])
RESTAURANTS = [
    ("Кофе Хаус Тверская", "Кофе Хаус Тверская", "Москва, ул. Тверская, 18", 55.7653, 37.6050),
    ("Кофе Хаус Арбат", "Кофе Хаус Арбат", "Москва, ул. Арбат, 24", 55.7500, 37.5930),
    ("Кофе Хаус Сокол", "Кофе Хаус Сокол", "Москва, Ленинградский пр-т, 75", 55.8050, 37.5150),
]
COUNTERPARTIES = [
    (
        "ООО «Ромашка»",
        ["Ромашка"],
        ["romashka.ru"],
        "Магазин на Профсоюзной",
        "Москва, ул. Профсоюзная, 56",
        55.6700,
        37.5530,
    ),
    (
        "ИП Сидоров",
        ["Сидоров"],
        [],
        "Павильон у метро",
        "Москва, Каширское ш., 26",
        55.6550,
        37.6480,
    ),
    (
        "ООО «Вкусно и Точка Сервис»",
        ["Вкусно и Точка"],
        ["vkusno-service.ru"],
        "Фудкорт ТЦ",
        "Москва, Кутузовский пр-т, 57",
        55.7330,
        37.5000,
    ),
    (
        "АО «Северная звезда»",
        ["Северная звезда"],
        ["sevzvezda.ru"],
        "Гипермаркет",
        "Санкт-Петербург, пр-т Просвещения, 19",
        60.0510,
        30.3330,
    ),
    (
        "ООО «Пекарня Хлебница»",
        ["Хлебница"],
        ["hlebnica.ru"],
        "Пекарня на Ленина",
        "Тверь, пр-т Ленина, 12",
        56.8380,
        35.8990,
    ),
    (
        "ООО «АптекаПлюс»",
        ["АптекаПлюс", "Аптека Плюс"],
        ["aptekaplus.ru"],
        "Аптека №3",
        "Москва, ул. Новослободская, 4",
        55.7800,
        37.6000,
    ),
]

# The price list: code, name, price (VAT included), unit, VAT rate, kind.
PRICE_LIST = [
    ("W-001", "Выезд инженера (Москва)", "2500.00", "выезд", "20", "service"),
    ("W-002", "Диагностика ККТ", "1200.00", "шт", "20", "work"),
    ("W-003", "Замена фискального накопителя", "1800.00", "шт", "20", "work"),
    ("W-004", "Настройка POS-терминала", "1500.00", "шт", "20", "work"),
    ("W-005", "Час работы инженера", "2000.00", "ч", "20", "work"),
    ("W-006", "Профилактика кассового оборудования", "900.00", "шт", "20", "work"),
    ("P-001", "Термоголовка Атол 30Ф", "4300.00", "шт", "20", "product"),
    ("P-002", "Фискальный накопитель 15 мес.", "8900.00", "шт", None, "product"),
    ("P-003", "Чековая лента 57 мм", "45.50", "рул", "20", "product"),
    ("P-004", "Сканер штрихкодов Honeywell 1250g", "6200.00", "шт", "20", "product"),
    ("P-005", "Кабель USB A-B 1.8 м", "350.00", "шт", "20", "product"),
]
# More contacts per counterparty (name, e-mail user or None, phone), by the first alias.
CONTACTS: dict[str, list[tuple[str, str | None, str]]] = {
    "Ромашка": [("Ирина Ромашкина, директор", "director", "+7 495 111-22-33")],
    "Сидоров": [
        ("Сидоров Иван", None, "+7 916 222-33-44"),
        ("Продавец Анна", None, "+7 916 222-33-45"),
    ],
    "Вкусно и Точка": [("Менеджер фудкорта", "manager", "+7 495 333-44-55")],
    "Северная звезда": [("Главный кассир", "kassa", "+7 812 444-55-66")],
    "Хлебница": [("Пекарь Мария", None, "+7 4822 55-66-77")],
    "АптекаПлюс": [("Заведующая аптекой", "zav", "+7 495 666-77-88")],
}
# Field visits: what priority and how soon the office wants them (hours from now).
URGENCY = {
    "Ромашка: не печатает чек ККТ Атол 30Ф": ("urgent", 3),
    "Кофе Хаус Тверская: замена фискального накопителя": ("high", 20),
    "Вкусно и Точка: профилактика кассового оборудования": ("low", 72),
    "Кофе Хаус Арбат: не работает сканер штрихкодов": ("high", 6),
}

# template, title, final status — reached through the real transitions
TASKS: list[tuple[str, str, str]] = [
    ("field_visit", "Ромашка: не печатает чек ККТ Атол 30Ф", "new"),
    ("field_visit", "Кофе Хаус Тверская: замена фискального накопителя", "new"),
    ("field_visit", "Кофе Хаус Арбат: не работает сканер штрихкодов", "accepted"),
    ("field_visit", "Хлебница: установка второй кассы", "en_route"),
    ("field_visit", "Северная звезда: монтаж POS-терминала на кассе 4", "in_progress"),
    ("field_visit", "АптекаПлюс: перестал работать принтер этикеток", "done"),
    ("field_visit", "Кофе Хаус Сокол: нет связи с ОФД", "completed"),
    ("field_visit", "Ромашка: заменить фискальный накопитель", "completed"),
    ("field_visit", "Сидоров: касса зависает при печати", "returned"),
    ("field_visit", "Сидоров: перенастроить весы с печатью этикеток", "postponed"),
    ("remote_support", "Ромашка: не проходит оплата картой", "new"),
    ("remote_support", "Кофе Хаус: обновить меню в iiko на всех точках", "new"),
    ("remote_support", "Вкусно и Точка: сброс пароля кассира", "phone"),
    ("remote_support", "Северная звезда: ошибка обмена с 1С", "in_progress"),
    ("remote_support", "Хлебница: не выгружаются продажи в ЕГАИС", "accepted"),
    ("remote_support", "АптекаПлюс: настроить маркировку в кассовой программе", "new"),
    ("remote_support", "Кофе Хаус Арбат: касса не видит дисконтные карты", "phone"),
    ("remote_support", "Сидоров: продлить лицензию кассовой программы", "cancelled"),
    ("delivery", "Ромашка: доставить чековую ленту 20 рулонов", "new"),
    ("delivery", "Кофе Хаус Сокол: привезти подменный принтер", "accepted"),
    ("delivery", "Северная звезда: доставить сканеры после ремонта", "completed"),
    ("delivery", "Хлебница: отвезти договор на подпись", "new"),
    ("repair", "Ремонт блока питания ККТ Штрих-М", "new"),
    ("repair", "Замена термоголовки принтера чеков", "in_progress"),
    ("repair", "Диагностика POS-моноблока после залития", "postponed"),
    ("repair", "Прошивка сканера Honeywell", "new"),
    ("accounting", "Выставить счёт за обслуживание за ноябрь", "new"),
    ("accounting", "Сверка взаиморасчётов с поставщиком ФН", "completed"),
    ("accounting", "Подготовить акты за октябрь", "accepted"),
    ("accounting", "Оплатить аренду склада", "new"),
    ("field_visit", "Вкусно и Точка: профилактика кассового оборудования", "new"),
    ("remote_support", "Кофе Хаус Тверская: не печатаются заказы на кухню", "new"),
]

# the steps that lead from `new` to each status
_STEPS = {
    "field_visit": {
        "accepted": ["accept"],
        "en_route": ["accept", "depart"],
        "in_progress": ["accept", "depart", "arrive"],
        "done": ["accept", "depart", "arrive", "report", "done"],
        "completed": ["accept", "depart", "arrive", "report", "done", "approve"],
        "returned": ["accept", "depart", "arrive", "report", "done", "return"],
        "postponed": ["accept", "postpone"],
        "cancelled": ["refuse"],
    },
    "other": {
        "accepted": ["accept"],
        "in_progress": ["accept", "start"],
        "completed": ["accept", "done"],
        "postponed": ["accept", "postpone"],
        "cancelled": ["refuse"],
    },
}


async def seed(*, force: bool = False, echo: Callable[[str], Any] = print) -> None:
    if await User.count() and not force:
        echo("demo data not added: the database already has users (use --force to add anyway)")
        await _print_logins(echo)
        return
    group_ids = {g.name: g.id for g in await accounts.list_groups()}
    users: dict[str, Any] = {}
    echo("==> staff")
    for login, full_name, surname, roles, groups in STAFF:
        users[login] = await accounts.create_user(
            msgspec.convert(
                {
                    "login": login,
                    "password": DEMO_PASSWORD,
                    "full_name": full_name,
                    "surname": surname,
                    "roles": roles,
                    "group_ids": [group_ids[g] for g in groups],
                    "email": f"{login}@naryad.local",
                },
                UserIn,
            )
        )
    echo("==> counterparties, sites and contacts")
    # title prefix -> (site id, lat, lon): every field visit goes to a site on the map
    sites: dict[str, tuple[int, float, float]] = {}
    chain = await clients.create_counterparty(
        CounterpartyIn(name=CHAIN[0], aliases=CHAIN[1], email_domains=CHAIN[2])
    )
    await clients.create_contact(
        ContactIn(name="Офис Кофе Хаус", email=f"office@{CHAIN[2][0]}", counterparty_id=chain.id)
    )
    for name, site_name, address, lat, lon in RESTAURANTS:
        restaurant = await clients.create_counterparty(
            CounterpartyIn(name=name, parent_id=chain.id)
        )
        site = await clients.create_site(
            SiteIn(counterparty_id=restaurant.id, name=site_name, address=address, lat=lat, lon=lon)
        )
        sites[name] = (site.id, lat, lon)
        await clients.create_contact(
            ContactIn(
                name=f"Управляющий, {name}", phone="+7 495 700-00-00", counterparty_id=restaurant.id
            )
        )
    for name, aliases, domains, site_name, address, lat, lon in COUNTERPARTIES:
        cp = await clients.create_counterparty(
            CounterpartyIn(name=name, aliases=aliases, email_domains=domains)
        )
        site = await clients.create_site(
            SiteIn(counterparty_id=cp.id, name=site_name, address=address, lat=lat, lon=lon)
        )
        sites[aliases[0]] = (site.id, lat, lon)
        if domains:
            await clients.create_contact(
                ContactIn(
                    name=f"Администратор {aliases[0]}",
                    email=f"admin@{domains[0]}",
                    counterparty_id=cp.id,
                )
            )
        for contact_name, mailbox, phone in CONTACTS.get(aliases[0], []):
            email = f"{mailbox}@{domains[0]}" if mailbox and domains else None
            await clients.create_contact(
                ContactIn(name=contact_name, email=email, phone=phone, counterparty_id=cp.id)
            )
    echo(f"==> price list ({len(PRICE_LIST)} items)")
    admin = await accounts.actor_for_user(users["admin"].id)
    assert admin is not None
    items = {}
    for code, item_name, price, unit, vat, kind in PRICE_LIST:
        item = await price_list.create_price_item(
            admin,
            PriceItemIn(
                code=code,
                name=item_name,
                price=Decimal(price),
                unit=unit,
                vat_rate=Decimal(vat) if vat else None,
                kind=kind,  # type: ignore[arg-type]
            ),
        )
        items[code] = item.id
    echo(f"==> {len(TASKS)} tasks")
    actors = {login: await accounts.actor_for_user(user.id) for login, user in users.items()}
    doers = {
        "field_visit": "ivanov",
        "delivery": "petrov",
        "repair": "ivanov",
        "remote_support": "volkov",
        "accounting": "buh",
    }
    for template, title, status in TASKS:
        if status == "phone":  # R9: solved during the call, entered as completed
            await tasks.create_task(
                _actor(actors, "smirnova"),
                TaskIn(
                    template=template,
                    title=title,
                    status="completed",
                    channel="phone",
                    completed_works="Решено по телефону",
                ),
            )
            continue
        prefix = title.split(":", 1)[0]
        where = sites.get(prefix) if template == "field_visit" else None
        priority, hours = URGENCY.get(title, ("normal", 0))
        task = await tasks.create_task(
            _actor(actors, "office"),
            TaskIn(
                template=template,
                title=title,
                site_id=where[0] if where else None,
                priority=priority,  # type: ignore[arg-type]
            ),
        )
        if hours:
            await editing.edit_task(
                _actor(actors, "office"),
                task.id,
                TaskPatch(due_resolution_at=clock.now() + dt.timedelta(hours=hours)),
            )
        steps = _STEPS["field_visit" if template == "field_visit" else "other"].get(status, [])
        doer = _actor(actors, doers[template])
        for step in steps:
            if step == "report":
                await _report(doer, task.id, items)
                continue
            await _step(step, doer, _actor(actors, "checker"), task.id, where)
    await _print_logins(echo)


def _png(draw: Callable[[ImageDraw.ImageDraw], None], size: tuple[int, int], bg: str) -> bytes:
    image = Image.new("RGB", size, bg)
    draw(ImageDraw.Draw(image))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _photo() -> bytes:
    """A stand-in photo of the work: a receipt printer with a fresh receipt."""

    def draw(d: ImageDraw.ImageDraw) -> None:
        d.rectangle((120, 160, 520, 380), fill="#3b4252")
        d.rectangle((200, 60, 440, 200), fill="#ffffff", outline="#999999")
        for y in range(80, 190, 18):
            d.line((220, y, 420, y), fill="#555555", width=3)
        d.ellipse((460, 330, 490, 360), fill="#38b000")

    return _png(draw, (640, 440), "#d8dee9")


def _signature() -> bytes:
    def draw(d: ImageDraw.ImageDraw) -> None:
        points = [(20 + x * 9, 70 + int(25 * ((x % 7) - 3) / 3)) for x in range(40)]
        d.line(points, fill="#0b1f6b", width=4)
        d.line((60, 110, 340, 100), fill="#0b1f6b", width=2)

    return _png(draw, (400, 140), "#ffffff")


async def _report(doer: Actor, task_id: int, items: dict[str, int]) -> None:
    """What the engineer leaves on site before Done: specification, a photo, the signature."""
    for code, quantity, discount in (
        ("W-001", "1", "0"),
        ("W-002", "1", "10"),
        ("P-003", "5", "0"),
    ):
        await pricing.add_line(
            doer,
            task_id,
            LineIn(
                price_item_id=items[code],
                quantity=Decimal(quantity),
                discount_percent=Decimal(discount),
            ),
        )
    photo = base64.b64encode(_photo()).decode()
    await attachments.add_attachment(
        doer,
        task_id,
        _photo(),
        AttachmentIn(
            filename="printer.png",
            content_type="image/png",
            data_base64=photo,
            caption="После ремонта",
            public=True,
        ),
    )
    await signatures.capture_signature(doer, task_id, _signature(), "Ирина Ромашкина")


def _actor(actors: dict[str, Actor | None], login: str) -> Actor:
    actor = actors[login]
    assert actor is not None
    return actor


async def _step(
    step: str,
    doer: Actor,
    checker: Actor,
    task_id: int,
    where: tuple[int, float, float] | None = None,
) -> None:
    if step == "accept":
        await transitions.accept_task(doer, task_id)
    elif step == "depart":
        await transitions.depart_task(doer, task_id)
    elif step == "arrive":
        # on site: a few tens of metres from the site's point
        lat, lon = (where[1] + 0.0002, where[2] + 0.0002) if where else (None, None)
        await transitions.arrive_task(doer, task_id, lat, lon, radius_m=500)
    elif step == "start":
        await transitions.start_task(doer, task_id)
    elif step == "done":
        await transitions.done_task(
            doer, task_id, "Диагностика, замена неисправного узла, проверка"
        )
    elif step == "approve":
        await transitions.approve_task(checker, task_id)
    elif step == "return":
        await transitions.return_task(checker, task_id, "Нет фото чека после ремонта")
    elif step == "postpone":
        until = clock.now() + dt.timedelta(days=2)
        await transitions.postpone_task(doer, task_id, until, "Клиент попросил перенести")
    elif step == "refuse":
        await transitions.refuse_task(doer, task_id, "Дубль заявки")


async def _print_logins(echo: Callable[[str], Any]) -> None:
    rows = (
        await User.select(User.login, User.full_name, User.roles)
        .order_by(User.id)
        .output(load_json=True)
    )
    echo("")
    echo(f"Demo logins (password for all: {DEMO_PASSWORD}):")
    for r in rows:
        echo(f"  {r['login']:<10} {r['full_name']:<24} {', '.join(r['roles'])}")
