"""The pure parts of mail intake, table-driven: R5 markers, quote cutting, charsets."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from server.channels import mailparse
from server.channels.telegram import parse_task_command
from server.notifications.delivery import REPLY_SEPARATOR


@pytest.mark.parametrize(
    ("subject", "title", "surname"),
    [
        ("Не печатает чек *Иванов", "Не печатает чек", "Иванов"),
        ("Не печатает чек ***иванов", "Не печатает чек", "иванов"),
        ("Не печатает чек*Иванов  ", "Не печатает чек", "Иванов"),
        ("Акт * Петрова-Водкина", "Акт", "Петрова-Водкина"),
        ("Цена 5*3 рубля", "Цена 5*3 рубля", None),
        ("*Иванов в начале, не в конце", "*Иванов в начале, не в конце", None),
        ("Без маркера", "Без маркера", None),
    ],
)
def test_surname_marker(subject: str, title: str, surname: str | None) -> None:
    assert mailparse.split_surname_marker(subject) == (title, surname)


@pytest.mark.parametrize(
    ("subject", "clean", "token"),
    [
        ("Re: [#42] Ромашка: не печатает", "Ромашка: не печатает", 42),
        ("RE: Fwd: FW: тема", "тема", None),
        ("Ответ: [#7] тема", "тема", 7),
        ("AW: WG: Rechnung", "Rechnung", None),
        ("Пересл.: Касса не видит ФН", "Касса не видит ФН", None),
    ],
)
def test_subject_cleaning_and_token(subject: str, clean: str, token: int | None) -> None:
    assert mailparse.clean_subject(subject) == clean
    assert mailparse.task_token(subject) == token


@pytest.mark.parametrize(
    ("body", "reply"),
    [
        (f"Спасибо!\n\n{REPLY_SEPARATOR}\nстарое", "Спасибо!"),
        ("Ок\n\nOn Mon, 24 Nov 2026 at 10:00, Naryad <s@n.test> wrote:\n> old", "Ок"),
        ("Ок\n-----Original Message-----\nFrom: x", "Ок"),
        ("Ок\n________________________________\nОт: Naryad", "Ок"),
        ("Ок\n\n24.11.2026 10:00, Naryad пишет:\n> старое", "Ок"),
        ("Первая строка\nвторая строка", "Первая строка\nвторая строка"),
        ("Ок\n> цитата\nпосле цитаты", "Ок"),
    ],
)
def test_quote_cutting(body: str, reply: str) -> None:
    assert mailparse.cut_quoted(body) == reply


@pytest.mark.parametrize(
    ("raw", "declared", "text"),
    [
        ("Касса не печатает".encode("cp1251"), "utf-8", "Касса не печатает"),
        ("Касса не печатает".encode("koi8-r"), None, "Касса не печатает"),
        ("Касса не печатает".encode("cp1251"), None, "Касса не печатает"),
        ("Касса не печатает".encode("koi8-r"), "koi8-r", "Касса не печатает"),
        ("Касса не печатает".encode(), "x-no-such-charset", "Касса не печатает"),
        (b"plain ascii", "utf-8", "plain ascii"),
    ],
)
def test_charset_fallbacks(raw: bytes, declared: str | None, text: str) -> None:
    assert mailparse.decode_bytes(raw, declared) == text


def test_html_to_text_drops_scripts_and_markup() -> None:
    html = (
        "<html><head><title>t</title><style>p{x:1}</style></head><body>"
        "<p>Строка&nbsp;1</p><script>evil()</script><div>A &amp; B<br>C</div>"
        "<img src=x onerror=alert(1)></body></html>"
    )
    assert mailparse.html_to_text(html) == "Строка 1\n\nA & B\nC"


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("/task Ромашка: ленту", ("Ромашка: ленту", "")),
        ("/task@Naryad_bot  Ромашка:  ленту\nописание\nещё", ("Ромашка: ленту", "описание\nещё")),
        ("/TASK заголовок", ("заголовок", "")),
        ("/task", ("", "")),
        ("/tasks что-то", None),
        ("задача /task", None),
    ],
)
def test_task_command(text: str, parsed: tuple[str, str] | None) -> None:
    assert parse_task_command(text) == parsed


def _message(subject: str, body: str, attached_from: str | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "ivanov@naryad.test"
    msg["Subject"] = subject
    msg.set_content(body)
    if attached_from is not None:
        inner = EmailMessage()
        inner["From"] = attached_from
        inner["Subject"] = "Сверка"
        inner.set_content("Пришлите акт сверки.")
        msg.add_attachment(inner)
    return msg


@pytest.mark.parametrize(
    ("subject", "body", "attached_from", "expected"),
    [
        # the subject says so; the quoted headers say who wrote the original
        (
            "Fwd: Эквайринг",
            "См. ниже\n---------- Forwarded message ---------\n"
            "От: Анна Смирнова <anna@romashka.ru>\nDate: пн, 24 нояб.\nSubject: Эквайринг\n",
            None,
            (True, "Анна Смирнова", "anna@romashka.ru"),
        ),
        # Outlook's headers: From: Name [mailto:address], then Sent:
        (
            "FW: Касса",
            "From: Пётр Альфа [mailto:petr.alfa@gmail.com]\nSent: Monday\nTo: Иванов\n",
            None,
            (True, "Пётр Альфа", "petr.alfa@gmail.com"),
        ),
        # no prefix, but the original's headers are quoted in the body
        (
            "Касса",
            "Переслано:\nОт: Пётр <petr.alfa@gmail.com>\nОтправлено: 24.11\nТема: Касса\n",
            None,
            (True, "Пётр", "petr.alfa@gmail.com"),
        ),
        # forwarded as an attachment (message/rfc822)
        (
            "Сверка",
            "См. вложение.",
            "Бухгалтерия <buh@alfatrade.ru>",
            (True, "Бухгалтерия", "buh@alfatrade.ru"),
        ),
        # a forward that does not say who wrote the original
        ("Пересл.: Касса", "Касса не работает.", None, (True, "", "")),
        # a reply quoting its history is no forward
        (
            "Re: Касса",
            "Спасибо!\n-----Original Message-----\nFrom: Naryad <support@naryad.test>\n"
            "Sent: Monday\nSubject: Касса\n",
            None,
            (False, "", ""),
        ),
        ("Касса", "Касса не работает.", None, (False, "", "")),
    ],
)
def test_forwards_and_their_original_sender(
    subject: str, body: str, attached_from: str | None, expected: tuple[bool, str, str]
) -> None:
    parsed = mailparse.parse(_message(subject, body, attached_from).as_bytes())
    assert (parsed.forwarded, parsed.original_name, parsed.original_sender) == expected
