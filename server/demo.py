"""`naryad seed-demo`: a believable POS/restaurant IT service company.

Everything is created through the services, so the demo data obeys the same rules
(R1–R4, R9, R12) as real data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import msgspec

from server.accounts import service as accounts
from server.accounts.schemas import UserIn
from server.accounts.tables import User
from server.clients import service as clients
from server.clients.schemas import ContactIn, CounterpartyIn, SiteIn
from server.lib import clock
from server.lib.actor import Actor
from server.tasks import service as tasks
from server.tasks import transitions
from server.tasks.schemas import TaskIn

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

# template, title, final status — reached through the real transitions
TASKS: list[tuple[str, str, str]] = [
    ("field_visit", "Ромашка: не печатает чек ККТ Атол 30Ф", "new"),
    ("field_visit", "Кофе Хаус Тверская: замена фискального накопителя", "new"),
    ("field_visit", "Кофе Хаус Арбат: не работает сканер штрихкодов", "accepted"),
    ("field_visit", "Хлебница: установка второй кассы", "en_route"),
    ("field_visit", "Северная звезда: монтаж POS-терминала на кассе 4", "in_progress"),
    ("field_visit", "АптекаПлюс: перестал работать принтер этикеток", "done"),
    ("field_visit", "Кофе Хаус Сокол: нет связи с ОФД", "completed"),
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
        "done": ["accept", "depart", "arrive", "done"],
        "completed": ["accept", "depart", "arrive", "done", "approve"],
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
    chain = await clients.create_counterparty(
        CounterpartyIn(name=CHAIN[0], aliases=CHAIN[1], email_domains=CHAIN[2])
    )
    for name, site_name, address, lat, lon in RESTAURANTS:
        restaurant = await clients.create_counterparty(
            CounterpartyIn(name=name, parent_id=chain.id)
        )
        await clients.create_site(
            SiteIn(counterparty_id=restaurant.id, name=site_name, address=address, lat=lat, lon=lon)
        )
    for name, aliases, domains, site_name, address, lat, lon in COUNTERPARTIES:
        cp = await clients.create_counterparty(
            CounterpartyIn(name=name, aliases=aliases, email_domains=domains)
        )
        await clients.create_site(
            SiteIn(counterparty_id=cp.id, name=site_name, address=address, lat=lat, lon=lon)
        )
        if domains:
            await clients.create_contact(
                ContactIn(
                    name=f"Администратор {aliases[0]}",
                    email=f"admin@{domains[0]}",
                    counterparty_id=cp.id,
                )
            )
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
        task = await tasks.create_task(
            _actor(actors, "office"), TaskIn(template=template, title=title)
        )
        steps = _STEPS["field_visit" if template == "field_visit" else "other"].get(status, [])
        doer = _actor(actors, doers[template])
        for step in steps:
            await _step(step, doer, _actor(actors, "checker"), task.id)
    await _print_logins(echo)


def _actor(actors: dict[str, Actor | None], login: str) -> Actor:
    actor = actors[login]
    assert actor is not None
    return actor


async def _step(step: str, doer: Actor, checker: Actor, task_id: int) -> None:
    if step == "accept":
        await transitions.accept_task(doer, task_id)
    elif step == "depart":
        await transitions.depart_task(doer, task_id)
    elif step == "arrive":
        await transitions.arrive_task(doer, task_id, None, None, radius_m=500)
    elif step == "start":
        await transitions.start_task(doer, task_id)
    elif step == "done":
        await transitions.done_task(
            doer, task_id, "Диагностика, замена неисправного узла, проверка"
        )
    elif step == "approve":
        await transitions.approve_task(checker, task_id)
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
