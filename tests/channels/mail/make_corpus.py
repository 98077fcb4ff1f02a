# ruff: noqa: E501  (message texts and header values read better unwrapped)
"""Writes the intake corpus: *.eml shaped like real clients' mail, and corpus.json with the
outcome each must have. Run it again only to change the corpus:

    .venv/bin/python tests/channels/mail/make_corpus.py

Placeholders the test fills in before sending: [#OPEN] / [#DONE] (task tokens of the open and
the completed task) and <OUR-MSGID> (a Message-ID of our mail to the client)."""

from __future__ import annotations

import base64
import json
import quopri
from email import policy
from email.header import Header
from email.message import EmailMessage, Message
from email.mime.application import MIMEApplication
from email.mime.base import MIMEBase
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ACC = "project+124@naryad.test"
REMOTE = "project+31@naryad.test"
SEP = "-- Ответьте выше этой строки / Reply above this line --"
corpus: list[dict[str, Any]] = []


def enc(text: str, charset: str = "utf-8") -> str:
    return Header(text, charset).encode()


def who(name: str, address: str, charset: str = "utf-8") -> str:
    return formataddr((name, address), charset=charset)


def headers(
    msg: Message, n: int, frm: str, to: str, subject: str | None, mailer: dict[str, str]
) -> None:
    msg["Return-Path"] = f"<{frm.split('<')[-1].rstrip('>')}>" if "<" in frm else f"<{frm}>"
    msg["Received"] = (
        "from mx.example.net (mx.example.net [203.0.113.7]) by mail.naryad.test "
        f"(Postfix) with ESMTPS id 4Q{n:04d}; Mon, 24 Nov 2026 10:{n % 60:02d}:00 +0300"
    )
    msg["From"] = frm
    msg["To"] = to
    if subject is not None:
        msg["Subject"] = subject
    msg["Date"] = f"Mon, 24 Nov 2026 10:{n % 60:02d}:17 +0300"
    msg["Message-ID"] = mailer.pop(
        "Message-ID", f"<corpus.{n:03d}.{sum(frm.encode()) % 99991}@mail.example.net>"
    )
    msg["MIME-Version"] = "1.0"
    for k, v in mailer.items():
        msg[k] = v


OUTLOOK = {
    "X-Mailer": "Microsoft Outlook 16.0",
    "Thread-Index": "AdtE1xYz7pQ2mW6aRl2nJ8fZ0c1XkQ==",
    "X-MS-Has-Attach": "",
    "X-MS-TNEF-Correlator": "",
    "Content-Language": "ru-RU",
}
GMAIL = {"X-Gm-Message-State": "AOJu0YzL3kq2", "X-Google-Smtp-Source": "AGHT+IF8xq"}
APPLE = {"X-Mailer": "Apple Mail (2.3774.200.91.1.1)"}
THUNDERBIRD = {"User-Agent": "Mozilla Thunderbird 128.4.2", "Content-Language": "ru"}
IPHONE = {"X-Mailer": "iPhone Mail (22B91)"}
ANDROID = {"X-Mailer": "K-9 Mail for Android"}
YANDEX = {"X-Mailer": "Yamail [ http://yandex.ru ] 5.0"}


def alternative(
    plain: str, html: str, charset: str = "utf-8", cte: str = "quoted-printable"
) -> MIMEMultipart:
    msg = MIMEMultipart("alternative", boundary="_000_alt_boundary_")
    for sub, text in (("plain", plain), ("html", html)):
        part = MIMEText("", sub, charset)
        del part["Content-Transfer-Encoding"]
        raw = text.encode(charset)
        if cte == "base64":
            part.set_payload(base64.encodebytes(raw).decode("ascii"))
        else:
            part.set_payload(quopri.encodestring(raw).decode("ascii"))
        part["Content-Transfer-Encoding"] = cte
        msg.attach(part)
    return msg


def text_part(
    text: str, charset: str, cte: str = "quoted-printable", subtype: str = "plain"
) -> MIMEText:
    part = MIMEText("", subtype, charset)
    del part["Content-Transfer-Encoding"]
    raw = text.encode(charset)
    if cte == "base64":
        part.set_payload(base64.encodebytes(raw).decode("ascii"))
    elif cte == "8bit":
        part.set_payload(raw.decode("ascii", "surrogateescape"))
    else:
        part.set_payload(quopri.encodestring(raw).decode("ascii"))
    part["Content-Transfer-Encoding"] = cte
    return part


def write(name: str, msg: Message | bytes, expect: dict[str, Any]) -> None:
    raw = (
        msg
        if isinstance(msg, bytes)
        else msg.as_bytes(policy=policy.compat32.clone(linesep="\r\n"))
    )
    (HERE / name).write_bytes(raw)
    corpus.append({"file": name, **expect})


def html_doc(body: str, extra_head: str = "") -> str:
    return (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">'
        f"{extra_head}</head><body>{body}</body></html>"
    )


def build() -> None:
    n = 0

    def nxt() -> int:
        nonlocal n
        n += 1
        return n

    # 1 Outlook, Windows-1251, quoted-printable, alternative -> accounting, counterparty by domain
    plain = "Добрый день!\r\n\r\nПрошу выставить счёт на оплату за ноябрь.\r\n\r\nС уважением,\r\nИванова Ольга\r\nООО «Ромашка»"
    msg = alternative(
        plain,
        html_doc("<p>Добрый день!</p><p>Прошу выставить счёт на оплату за ноябрь.</p>"),
        "windows-1251",
    )
    headers(
        msg,
        nxt(),
        who("Иванова Ольга", "o.ivanova@romashka.ru", "windows-1251"),
        ACC,
        enc("Счёт на оплату за ноябрь", "windows-1251"),
        dict(OUTLOOK),
    )
    write(
        "01_outlook_cp1251_accounting.eml",
        msg,
        {
            "outcome": "task_created",
            "template": "accounting",
            "counterparty": "Ромашка",
            "title": "Счёт на оплату за ноябрь",
            "description_contains": "счёт на оплату",
        },
    )

    # 2 Gmail, UTF-8 base64, *Surname -> assignee, title gets the counterparty (R2)
    msg = alternative(
        "Касса 2 не печатает чек, ошибка 3969.\r\n\r\n--\r\nАнна, администратор",
        '<div dir="ltr">Касса 2 не печатает чек, ошибка 3969.<br><br>--<br>Анна, администратор</div>',
        cte="base64",
    )
    headers(
        msg,
        nxt(),
        who("Анна Смирнова", "anna@romashka.ru"),
        REMOTE,
        enc("Не печатает чек на кассе 2 *Иванов"),
        {**GMAIL, "Message-ID": "<CAHk9x=gmail-0002@mail.gmail.com>"},
    )
    write(
        "02_gmail_utf8_assign_surname.eml",
        msg,
        {
            "outcome": "task_created",
            "template": "remote_support",
            "assignee": "Иванов",
            "counterparty": "Ромашка",
            "title": "Ромашка: Не печатает чек на кассе 2",
        },
    )

    # 3 Apple Mail, KOI8-R, quoted-printable, two asterisks and a lower-case surname
    msg = MIMEMultipart("mixed", boundary="Apple-Mail=_5F2B")
    msg.attach(
        text_part(
            "Пришлите, пожалуйста, акт сверки за третий квартал.\n\nОтправлено с Mac", "koi8-r"
        )
    )
    headers(
        msg,
        nxt(),
        who("Ольга Иванова", "o.ivanova@romashka.ru", "koi8-r"),
        ACC,
        enc("Акт сверки за 3 квартал **петрова", "koi8-r"),
        dict(APPLE),
    )
    write(
        "03_apple_koi8r_two_asterisks.eml",
        msg,
        {
            "outcome": "task_created",
            "template": "accounting",
            "assignee": "Петрова",
            "title": "Акт сверки за 3 квартал",
            "description_contains": "акт сверки",
        },
    )

    # 4 Thunderbird, format=flowed, unknown surname -> queue + history note
    part = text_part("Сканер штрихкодов на второй кассе перестал читать коды.\n", "utf-8", "8bit")
    part.set_param("format", "flowed")
    headers(
        part,
        nxt(),
        who("Анна Смирнова", "anna@romashka.ru"),
        REMOTE,
        enc("Сканер не читает штрихкоды *Сидоров"),
        dict(THUNDERBIRD),
    )
    write(
        "04_thunderbird_unknown_surname.eml",
        part,
        {
            "outcome": "task_created",
            "template": "remote_support",
            "assignee": None,
            "note_contains": "Сидоров",
            "title": "Ромашка: Сканер не читает штрихкоды",
        },
    )

    # 5 iPhone, chain restaurant domain -> the chain's central office
    part = text_part(
        "Не работает терминал на раздаче, срочно!\n\nОтправлено с iPhone", "utf-8", "base64"
    )
    headers(
        part,
        nxt(),
        who("Управляющий Тверская", "manager@tverskaya.vkusno.ru"),
        REMOTE,
        enc("Терминал на раздаче не включается"),
        dict(IPHONE),
    )
    write(
        "05_iphone_chain_restaurant.eml",
        part,
        {
            "outcome": "task_created",
            "template": "remote_support",
            "counterparty": "Вкусно и Быстро",
            "contact_counterparty": "Вкусно и Быстро",
        },
    )

    # 6 Android K-9, no Subject header: the title is the first body line
    part = text_part(
        "\n\nЗавис сервер лицензий iiko\nПосле перезагрузки не поднимается.\n", "utf-8", "8bit"
    )
    headers(part, nxt(), who("Анна Смирнова", "anna@romashka.ru"), REMOTE, None, dict(ANDROID))
    write(
        "06_android_no_subject.eml",
        part,
        {
            "outcome": "task_created",
            "template": "remote_support",
            "title": "Ромашка: Завис сервер лицензий iiko",
        },
    )

    # 7 HTML-only with script and style, empty subject
    html = html_doc(
        "<script>alert('x');document.write('ВЗЛОМ')</script><div>Не приходят чеки в ОФД<br>с 9 утра</div>"
        "<p>Спасибо &laquo;заранее&raquo;&nbsp;!</p>",
        "<style>div{color:red} .x:before{content:'СТИЛЬ'}</style><title>Заголовок документа</title>",
    )
    part = text_part(html, "utf-8", "quoted-printable", "html")
    headers(
        part,
        nxt(),
        who("Анна Смирнова", "anna@romashka.ru"),
        REMOTE,
        "",
        {"X-Mailer": "Roundcube Webmail/1.6.9"},
    )
    write(
        "07_html_only_script_empty_subject.eml",
        part,
        {
            "outcome": "task_created",
            "template": "remote_support",
            "title": "Ромашка: Не приходят чеки в ОФД",
            "description_contains": "«заранее»",
            "description_excludes": [
                "ВЗЛОМ",
                "alert",
                "СТИЛЬ",
                "color:red",
                "Заголовок документа",
                "<div>",
            ],
        },
    )

    # 8 Outlook on the web, HTML-only, base64
    part = text_part(
        html_doc(
            '<div style="font-family:Calibri">Прошу сделать сверку взаиморасчётов.<br>'
            "Бухгалтерия &amp; финансы</div>"
        ),
        "utf-8",
        "base64",
        "html",
    )
    headers(
        part,
        nxt(),
        who("Бухгалтерия Альфа", "buh@alfatrade.ru"),
        ACC,
        enc("Сверка взаиморасчётов"),
        {
            "X-MS-Exchange-Organization-SCL": "1",
            "X-OriginatorOrg": "alfatrade.ru",
            "Thread-Index": "AQHbX2Q=",
        },
    )
    write(
        "08_owa_html_only_base64.eml",
        part,
        {
            "outcome": "task_created",
            "template": "accounting",
            "counterparty": "Альфа-Трейд",
            "description_contains": "Бухгалтерия & финансы",
        },
    )

    # 9 unknown sender domain, no counterparty anywhere -> created, flagged counterparty missing
    msg = alternative(
        "Здравствуйте, у нас не работает интернет в зале.",
        "<div>Здравствуйте, у нас не работает интернет в зале.</div>",
    )
    headers(
        msg,
        nxt(),
        who("Сергей", "sergey.kafe@gmail.com"),
        REMOTE,
        enc("Не работает интернет"),
        dict(GMAIL),
    )
    write(
        "09_gmail_unknown_counterparty.eml",
        msg,
        {
            "outcome": "task_created",
            "template": "remote_support",
            "counterparty": None,
            "counterparty_missing": True,
            "title": "Не работает интернет",
        },
    )

    # 10 unknown sender, but the subject names a counterparty (R2 title match)
    part = text_part("Коллеги, упала сеть в офисе.", "utf-8", "8bit")
    headers(
        part,
        nxt(),
        who("Дежурный", "duty.alfa@mail.ru"),
        REMOTE,
        enc("ООО «Альфа-Трейд»: не работает сеть"),
        {"X-Mailer": "Mail.Ru Mailer 1.0"},
    )
    write(
        "10_title_names_counterparty.eml",
        part,
        {
            "outcome": "task_created",
            "template": "remote_support",
            "counterparty": "Альфа-Трейд",
            "counterparty_missing": False,
        },
    )

    # 11 a known contact (created in setup, linked to Альфа-Трейд) writing from gmail
    part = text_part("Не открывается личный кабинет ЕГАИС.", "utf-8", "quoted-printable")
    headers(
        part,
        nxt(),
        who("Пётр Альфа", "petr.alfa@gmail.com"),
        REMOTE,
        enc("Личный кабинет ЕГАИС"),
        dict(GMAIL),
    )
    write(
        "11_known_contact_link.eml",
        part,
        {
            "outcome": "task_created",
            "template": "remote_support",
            "counterparty": "Альфа-Трейд",
            "title": "Альфа-Трейд: Личный кабинет ЕГАИС",
        },
    )

    # 12 Outlook with a PDF attachment (kept)
    msg = MIMEMultipart("mixed", boundary="_004_mixed_")
    msg.attach(
        alternative(
            "Счёт во вложении, прошу провести.",
            html_doc("<p>Счёт во вложении, прошу провести.</p>"),
        )
    )
    pdf = MIMEApplication(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n", "pdf")
    pdf.add_header("Content-Disposition", "attachment", filename=("utf-8", "", "Счёт 145.pdf"))
    msg.attach(pdf)
    headers(
        msg,
        nxt(),
        who("Иванова Ольга", "o.ivanova@romashka.ru"),
        ACC,
        enc("Счёт №145"),
        {**OUTLOOK, "X-MS-Has-Attach": "yes"},
    )
    write(
        "12_outlook_pdf_attachment.eml",
        msg,
        {
            "outcome": "task_created",
            "template": "accounting",
            "attachments": [{"filename": "Счёт 145.pdf", "kept": True}],
        },
    )

    # 13 an attachment over the attachment limit (the task is created, the file not kept)
    msg = MIMEMultipart("mixed", boundary="_005_mixed_")
    msg.attach(text_part("Фото ошибки на экране.", "utf-8", "8bit"))
    photo = MIMEBase("image", "jpeg")
    photo.set_payload(base64.encodebytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 120).decode())
    photo["Content-Transfer-Encoding"] = "base64"
    photo.add_header("Content-Disposition", "attachment", filename="IMG_2041.JPG")
    msg.attach(photo)
    headers(
        msg,
        nxt(),
        who("Анна Смирнова", "anna@romashka.ru"),
        REMOTE,
        enc("Ошибка на экране кассы"),
        dict(IPHONE),
    )
    write(
        "13_big_attachment_not_kept.eml",
        msg,
        {
            "outcome": "task_created",
            "template": "remote_support",
            "attachments": [{"filename": "IMG_2041.JPG", "kept": False}],
        },
    )

    # 14 over the message size limit -> rejected with the reason
    part = text_part(
        "Логи во вложении.\n" + ("0123456789abcdef" * 64 + "\n") * 300, "utf-8", "8bit"
    )
    headers(
        part,
        nxt(),
        who("Анна Смирнова", "anna@romashka.ru"),
        REMOTE,
        enc("Логи кассы"),
        dict(THUNDERBIRD),
    )
    write("14_too_large.eml", part, {"outcome": "rejected", "reason_contains": "too large"})

    # 15 Gmail inline forward
    fwd = (
        "Пересылаю ошибку.\n\n---------- Forwarded message ---------\nОт: ЕГАИС <noreply@egais.ru>\n"
        "Date: пн, 24 нояб. 2026 г. в 09:12\nSubject: Ошибка отправки ТТН\nTo: <anna@romashka.ru>\n\n"
        "ТТН 0123456 не отправлена: нет связи с УТМ.\n"
    )
    msg = alternative(fwd, "<div>" + fwd.replace("\n", "<br>") + "</div>")
    headers(
        msg,
        nxt(),
        who("Анна Смирнова", "anna@romashka.ru"),
        REMOTE,
        enc("Fwd: Ошибка отправки ТТН"),
        dict(GMAIL),
    )
    write(
        "15_gmail_forwarded_inline.eml",
        msg,
        {
            "outcome": "task_created",
            "template": "remote_support",
            "title": "Ромашка: Ошибка отправки ТТН",
            "description_contains": "нет связи с УТМ",
        },
    )

    # 16 Outlook forward as attachment (message/rfc822)
    inner = EmailMessage()
    inner["From"] = "robot@ofd.ru"
    inner["To"] = "o.ivanova@romashka.ru"
    inner["Subject"] = "Чеки не поступают"
    inner.set_content("За 23.11 чеки от ККТ 0001234 не поступали.")
    msg = MIMEMultipart("mixed", boundary="_006_mixed_")
    msg.attach(text_part("См. письмо ОФД ниже.", "windows-1251", "quoted-printable"))
    msg.attach(MIMEMessage(inner))
    headers(
        msg,
        nxt(),
        who("Иванова Ольга", "o.ivanova@romashka.ru", "windows-1251"),
        REMOTE,
        enc("FW: Чеки не поступают", "windows-1251"),
        dict(OUTLOOK),
    )
    write(
        "16_outlook_forward_as_attachment.eml",
        msg,
        {
            "outcome": "task_created",
            "template": "remote_support",
            "title": "Ромашка: Чеки не поступают",
        },
    )

    # 17 declares UTF-8, the body is really Windows-1251
    raw = (
        "Return-Path: <anna@romashka.ru>\r\nFrom: anna@romashka.ru\r\nTo: " + REMOTE + "\r\n"
        "Subject: " + enc("Неверная кодировка") + "\r\nDate: Mon, 24 Nov 2026 11:00:00 +0300\r\n"
        f"Message-ID: <corpus.{nxt():03d}@old-mailer.local>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
        "X-Mailer: The Bat! (v3.99.3) Professional\r\n\r\n"
    ).encode() + "Касса не видит фискальный накопитель.\r\n".encode("cp1251")
    write(
        "17_declared_utf8_really_cp1251.eml",
        raw,
        {
            "outcome": "task_created",
            "template": "remote_support",
            "description_contains": "фискальный накопитель",
        },
    )

    # 18 no charset at all, 8-bit KOI8-R body
    raw = (
        "Return-Path: <anna@romashka.ru>\r\nFrom: anna@romashka.ru\r\nTo: " + REMOTE + "\r\n"
        "Subject: "
        + enc("Без кодировки", "koi8-r")
        + "\r\nDate: Mon, 24 Nov 2026 11:05:00 +0300\r\n"
        f"Message-ID: <corpus.{nxt():03d}@old-mailer.local>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain\r\nContent-Transfer-Encoding: 8bit\r\nX-Mailer: Microsoft Outlook Express 6.00.2900.5931\r\n\r\n"
    ).encode() + "Не печатается отчёт о закрытии смены.\r\n".encode("koi8-r")
    write(
        "18_missing_charset_koi8r.eml",
        raw,
        {
            "outcome": "task_created",
            "template": "remote_support",
            "description_contains": "отчёт о закрытии смены",
            "title": "Ромашка: Без кодировки",
        },
    )

    # 19 an unknown charset label over UTF-8 text
    raw = (
        "Return-Path: <anna@romashka.ru>\r\nFrom: anna@romashka.ru\r\nTo: " + REMOTE + "\r\n"
        "Subject: =?x-unknown?Q?Test?=\r\nDate: Mon, 24 Nov 2026 11:10:00 +0300\r\n"
        f"Message-ID: <corpus.{nxt():03d}@old-mailer.local>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: text/plain; charset="x-unknown-8bit"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'
    ).encode() + "Сломался принтер кухни.\r\n".encode()
    write(
        "19_unknown_charset_label.eml",
        raw,
        {
            "outcome": "task_created",
            "template": "remote_support",
            "description_contains": "Сломался принтер кухни",
        },
    )

    # 20 Subject sent as raw 8-bit Windows-1251 (no RFC 2047)
    raw = (
        b"Return-Path: <o.ivanova@romashka.ru>\r\nFrom: o.ivanova@romashka.ru\r\nTo: "
        + ACC.encode()
        + b"\r\n"
        b"Subject: "
        + "Закрывающие документы".encode("cp1251")
        + b"\r\nDate: Mon, 24 Nov 2026 11:15:00 +0300\r\n"
        + f"Message-ID: <corpus.{nxt():03d}@1c-mailer.local>\r\n".encode()
        + b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=windows-1251\r\nContent-Transfer-Encoding: 8bit\r\n"
        b"X-Mailer: 1C:Enterprise 8.3\r\n\r\n"
        + "Пришлите закрывающие документы за октябрь.\r\n".encode("cp1251")
    )
    write(
        "20_raw_8bit_subject_cp1251.eml",
        raw,
        {"outcome": "task_created", "template": "accounting", "title": "Закрывающие документы"},
    )

    # 21-25 auto-replies and lists
    part = text_part(
        "Я в отпуске до 1 декабря. По срочным вопросам: +7 495 000-00-00.",
        "utf-8",
        "quoted-printable",
    )
    headers(
        part,
        nxt(),
        who("Иванова Ольга", "o.ivanova@romashka.ru"),
        REMOTE,
        enc("Автоматический ответ: Не печатает чек"),
        {
            **OUTLOOK,
            "Auto-Submitted": "auto-replied",
            "X-Auto-Response-Suppress": "All",
            "X-MS-Exchange-Inbox-Rules-Loop": "o.ivanova@romashka.ru",
        },
    )
    write(
        "21_outlook_out_of_office.eml",
        part,
        {"outcome": "ignored", "reason_contains": "Auto-Submitted"},
    )
    part = text_part("Ваше обращение получено.", "utf-8", "8bit")
    headers(
        part,
        nxt(),
        who("Служба поддержки", "noreply@helpdesk.example.com"),
        REMOTE,
        enc("Ваше обращение получено"),
        {"Precedence": "bulk"},
    )
    write("22_precedence_bulk.eml", part, {"outcome": "ignored", "reason_contains": "bulk"})
    part = text_part("Спасибо за письмо, я отвечу позже.", "koi8-r", "quoted-printable")
    headers(
        part,
        nxt(),
        who("Анна", "anna@romashka.ru", "koi8-r"),
        REMOTE,
        enc("Re: Вопрос", "koi8-r"),
        {**YANDEX, "X-Autoreply": "yes"},
    )
    write(
        "23_yandex_x_autoreply.eml", part, {"outcome": "ignored", "reason_contains": "X-Autoreply"}
    )
    part = text_part("Out of office until Monday.", "us-ascii", "7bit")
    headers(
        part,
        nxt(),
        "Ops <ops@alfatrade.ru>",
        REMOTE,
        "Out of Office",
        {"X-Autorespond": "Out of Office"},
    )
    write("24_x_autorespond.eml", part, {"outcome": "ignored", "reason_contains": "X-Autorespond"})
    part = text_part("Новости недели: новые тарифы ОФД.", "utf-8", "base64")
    headers(
        part,
        nxt(),
        who("Рассылка ОФД", "news@ofd.example.ru"),
        REMOTE,
        enc("Новости ОФД"),
        {
            "Precedence": "list",
            "List-Id": "<news.ofd.example.ru>",
            "List-Unsubscribe": "<mailto:unsub@ofd.example.ru>",
        },
    )
    write("25_mailing_list.eml", part, {"outcome": "ignored", "reason_contains": "list"})

    # 26-28 bounces
    for name, reporter, status in (
        ("26_dsn_postfix_bounce.eml", "mail.naryad.test", "5.1.1"),
        ("27_dsn_exchange_ndr.eml", "EXCH01.romashka.local", "5.7.1"),
    ):
        report = MIMEMultipart("report", boundary="dsn_boundary_1", report_type="delivery-status")
        report.attach(
            text_part(
                f"This is the mail system at host {reporter}.\n\nI'm sorry to have to inform you "
                "that your message could not be delivered.\n",
                "us-ascii",
                "7bit",
            )
        )
        ds = MIMEBase("message", "delivery-status")
        per_message, per_recipient = Message(), Message()
        per_message["Reporting-MTA"] = f"dns; {reporter}"
        per_recipient["Final-Recipient"] = "rfc822; nobody@romashka.ru"
        per_recipient["Action"] = "failed"
        per_recipient["Status"] = status
        ds.set_payload([per_message, per_recipient])
        report.attach(ds)
        orig = MIMEBase("text", "rfc822-headers")
        orig.set_payload("From: support@naryad.test\nSubject: [#1] Test\n")
        report.attach(orig)
        headers(
            report,
            nxt(),
            f"MAILER-DAEMON@{reporter}",
            REMOTE,
            "Undelivered Mail Returned to Sender",
            {},
        )
        del report["Return-Path"]
        report["Return-Path"] = "<>"
        write(name, report, {"outcome": "ignored"})
    part = text_part("Delivery has failed to these recipients.", "us-ascii", "7bit")
    headers(
        part, nxt(), "postmaster@alfatrade.ru", REMOTE, "Delivery Status Notification (Failure)", {}
    )
    del part["Return-Path"]
    part["Return-Path"] = "<>"
    write(
        "28_empty_return_path.eml", part, {"outcome": "ignored", "reason_contains": "Return-Path"}
    )

    # 29 the Gmail message again (same Message-ID) -> processed once
    raw2 = (HERE / "02_gmail_utf8_assign_surname.eml").read_bytes()
    write(
        "29_duplicate_message_id.eml",
        raw2.replace(b"Received: from mx.example.net", b"Received: from mx2.example.net"),
        {"outcome": "duplicate"},
    )

    # 30 an address we do not serve, 31 no From
    part = text_part("Здравствуйте!", "utf-8", "8bit")
    headers(
        part, nxt(), who("Анна", "anna@romashka.ru"), "info@naryad.test", enc("Вопрос"), dict(GMAIL)
    )
    write(
        "30_unknown_address.eml",
        part,
        {"outcome": "rejected", "reason_contains": "no intake address"},
    )
    part = text_part("Без отправителя.", "utf-8", "8bit")
    headers(part, nxt(), "undisclosed-recipients:;", REMOTE, "Без отправителя", {})
    del part["Return-Path"]
    part["Return-Path"] = "<bounces@relay.example.net>"
    write("31_no_sender.eml", part, {"outcome": "rejected", "reason_contains": "no sender"})

    # 32 Gmail reply on the token, quoted below our separator and "wrote:"
    quoted = (
        f"Спасибо, теперь печатает!\n\nпн, 24 нояб. 2026 г. в 12:01, Naryad <support@naryad.test>:\n"
        f"> {SEP}\n>\n> Перезагрузите кассу.\n"
    )
    msg = alternative(
        quoted, "<div>Спасибо, теперь печатает!</div><blockquote>Перезагрузите кассу.</blockquote>"
    )
    headers(
        msg,
        nxt(),
        who("Анна Смирнова", "anna@romashka.ru"),
        "support@naryad.test",
        "Re: [#OPEN] " + enc("Ромашка: не печатает чек"),
        dict(GMAIL),
    )
    write(
        "32_gmail_reply_token.eml",
        msg,
        {"outcome": "comment_added", "task": "open", "comment": "Спасибо, теперь печатает!"},
    )

    # 33 Outlook reply by In-Reply-To only, quote under "-----Original Message-----"
    part = text_part(
        "Касса снова не печатает после обновления.\r\n\r\n-----Original Message-----\r\nFrom: Naryad <support@naryad.test>\r\n"
        "Sent: Monday, November 24, 2026 12:01 PM\r\nSubject: Перезагрузите кассу\r\n",
        "windows-1251",
    )
    headers(
        part,
        nxt(),
        who("Анна Смирнова", "anna@romashka.ru", "windows-1251"),
        "support@naryad.test",
        enc("RE: Ваш вопрос", "windows-1251"),
        {**OUTLOOK, "In-Reply-To": "<OUR-MSGID>", "References": "<OUR-MSGID>"},
    )
    write(
        "33_outlook_reply_in_reply_to.eml",
        part,
        {
            "outcome": "comment_added",
            "task": "open",
            "comment": "Касса снова не печатает после обновления.",
        },
    )

    # 34 Thunderbird reply from a colleague's new address -> a new contact
    part = text_part(
        f"Добавлю: ошибка 3969 на второй кассе.\n\n{SEP}\nПерезагрузите кассу.\n", "utf-8", "8bit"
    )
    headers(
        part,
        nxt(),
        who("Мария Коллега", "maria@romashka.ru"),
        "support@naryad.test",
        "Re: [#OPEN] " + enc("Ромашка: не печатает чек"),
        dict(THUNDERBIRD),
    )
    write(
        "34_thunderbird_reply_new_address.eml",
        part,
        {
            "outcome": "comment_added",
            "task": "open",
            "comment": "Добавлю: ошибка 3969 на второй кассе.",
            "new_contact": "maria@romashka.ru",
        },
    )

    # 35 Apple Mail reply "On ... wrote:" to the completed task -> new linked task
    part = text_part(
        "Проблема вернулась: чек снова не печатается.\n\n"
        "On 24 Nov 2026, at 12:30, Naryad <support@naryad.test> wrote:\n\n> Задача выполнена.\n",
        "utf-8",
        "quoted-printable",
    )
    headers(
        part,
        nxt(),
        who("Анна Смирнова", "anna@romashka.ru"),
        "support@naryad.test",
        "Re: [#DONE] " + enc("Ромашка: чек по телефону"),
        dict(APPLE),
    )
    write(
        "35_apple_reply_to_completed.eml",
        part,
        {
            "outcome": "task_created",
            "template": "remote_support",
            "follows": "done",
            "counterparty": "Ромашка",
        },
    )

    # 36 an auto-reply on the thread: never a comment, never answered
    part = text_part("Я в отпуске.", "utf-8", "8bit")
    headers(
        part,
        nxt(),
        who("Анна Смирнова", "anna@romashka.ru"),
        "support@naryad.test",
        enc("Автоответ:") + " [#OPEN] " + enc("Ромашка: не печатает чек"),
        {"Auto-Submitted": "auto-replied"},
    )
    write("36_autoreply_on_thread.eml", part, {"outcome": "ignored"})

    # 37 a mobile reply in Windows-1251 base64 quoting with '>' only
    part = text_part(
        "Ок, жду инженера.\r\n\r\n> Инженер выедет завтра.\r\n", "windows-1251", "base64"
    )
    headers(
        part,
        nxt(),
        who("Анна", "anna@romashka.ru"),
        "support@naryad.test",
        "Re: [#OPEN] " + enc("Ромашка: не печатает чек"),
        {"X-Mailer": "Yandex Mail for Android"},
    )
    write(
        "37_mobile_reply_quote_marks.eml",
        part,
        {"outcome": "comment_added", "task": "open", "comment": "Ок, жду инженера."},
    )

    # 38 one of our own notifications looping back through a client's forwarding rule
    part = text_part(f"{SEP}\n\nПерезагрузите кассу.\n\n--\nИванов", "utf-8", "quoted-printable")
    headers(
        part,
        nxt(),
        who("Иванов", "support@naryad.test"),
        "support@naryad.test",
        "[#OPEN] " + enc("Ромашка: не печатает чек"),
        {"Message-ID": "<OUR-MSGID>", "X-Forwarded-For": "anna@romashka.ru"},
    )
    write(
        "38_our_own_message_looped.eml", part, {"outcome": "ignored", "reason_contains": "our own"}
    )

    # 39 an employee forwards a client's mail inline (Gmail): the client is the requester
    fwd = (
        "Коллеги, заявка клиента, займитесь.\n\n---------- Forwarded message ---------\n"
        "От: Анна Смирнова <anna@romashka.ru>\nDate: пн, 24 нояб. 2026 г. в 09:40\n"
        "Subject: Не работает эквайринг\nTo: Иванов <ivanov@naryad.test>\n\n"
        "Терминал пишет «нет связи с банком».\n"
    )
    msg = alternative(fwd, "<div>" + fwd.replace("\n", "<br>") + "</div>")
    headers(
        msg,
        nxt(),
        who("Иван Иванов", "ivanov@naryad.test"),
        REMOTE,
        enc("Fwd: Не работает эквайринг"),
        dict(GMAIL),
    )
    write(
        "39_employee_forward_inline.eml",
        msg,
        {
            "outcome": "task_created",
            "template": "remote_support",
            "title": "Ромашка: Не работает эквайринг",
            "counterparty": "Ромашка",
            "requester_email": "anna@romashka.ru",
            "created_by": "Иванов",
            "note_contains": "ivanov@naryad.test",
            "description_contains": "нет связи с банком",
        },
    )

    # 40 an employee forwards a client's mail as an attachment (Outlook, message/rfc822)
    inner = EmailMessage()
    inner["From"] = "Бухгалтерия Альфа <buh2@alfatrade.ru>"
    inner["To"] = "petrova@naryad.test"
    inner["Subject"] = "Сверка за октябрь"
    inner.set_content("Пришлите акт сверки за октябрь.")
    msg = MIMEMultipart("mixed", boundary="_007_mixed_")
    msg.attach(text_part("Переслала, займусь сама.", "windows-1251", "quoted-printable"))
    msg.attach(MIMEMessage(inner))
    headers(
        msg,
        nxt(),
        who("Петрова Мария", "petrova@naryad.test", "windows-1251"),
        ACC,
        enc("FW: Сверка за октябрь", "windows-1251"),
        dict(OUTLOOK),
    )
    write(
        "40_employee_forward_as_attachment.eml",
        msg,
        {
            "outcome": "task_created",
            "template": "accounting",
            "title": "Сверка за октябрь",
            "counterparty": "Альфа-Трейд",
            "requester_email": "buh2@alfatrade.ru",
            "contact_counterparty": "Альфа-Трейд",
            "created_by": "Петрова",
        },
    )

    # 41 an employee forwards with a Russian prefix and the original's quoted headers
    part = text_part(
        "\n\n-----Исходное сообщение-----\nОт: Пётр Альфа <petr.alfa@gmail.com>\n"
        "Отправлено: 24 ноября 2026 г. 9:15\nКому: Иванов <ivanov@naryad.test>\n"
        "Тема: Касса не видит ФН\n\nКасса 1 не видит фискальный накопитель.\n",
        "utf-8",
        "8bit",
    )
    headers(
        part,
        nxt(),
        who("Иван Иванов", "ivanov@naryad.test"),
        REMOTE,
        enc("Пересл.: Касса не видит ФН"),
        dict(YANDEX),
    )
    write(
        "41_employee_forward_russian_headers.eml",
        part,
        {
            "outcome": "task_created",
            "template": "remote_support",
            "title": "Альфа-Трейд: Касса не видит ФН",
            "counterparty": "Альфа-Трейд",
            "requester_email": "petr.alfa@gmail.com",
            "created_by": "Иванов",
        },
    )

    # 42 an employee writes to the intake address himself: he is the requester, no contact
    part = text_part("Обновить прошивку ККТ на всех кассах.", "utf-8", "8bit")
    headers(
        part,
        nxt(),
        who("Иван Иванов", "ivanov@naryad.test"),
        REMOTE,
        enc("Ромашка: обновить прошивку ККТ"),
        dict(THUNDERBIRD),
    )
    write(
        "42_employee_writes_directly.eml",
        part,
        {
            "outcome": "task_created",
            "template": "remote_support",
            "title": "Ромашка: обновить прошивку ККТ",
            "requester_user": "Иванов",
        },
    )

    # 43 a stranger's mail carrying the open task's token: a new task, never a comment
    part = text_part("Пришлите, пожалуйста, пароль администратора кассы.", "utf-8", "8bit")
    headers(
        part,
        nxt(),
        who("Незнакомец", "someone@stranger.example"),
        "support@naryad.test",
        "Re: [#OPEN] " + enc("Ромашка: не печатает чек"),
        dict(GMAIL),
    )
    write(
        "43_stranger_with_token.eml",
        part,
        {
            "outcome": "task_created",
            "template": "remote_support",
            "mentions_task": "open",
            "requester_email": "someone@stranger.example",
        },
    )

    # 44 a stranger answering our Message-ID (a forwarded notification): a new task too
    part = text_part("Это не моя касса, но у нас тоже не печатает.", "utf-8", "8bit")
    headers(
        part,
        nxt(),
        who("Сосед", "neighbour@other.example"),
        "support@naryad.test",
        enc("Re: Ваш вопрос"),
        {**OUTLOOK, "In-Reply-To": "<OUR-MSGID>", "References": "<OUR-MSGID>"},
    )
    write(
        "44_stranger_in_reply_to.eml",
        part,
        {
            "outcome": "task_created",
            "template": "remote_support",
            "mentions_task": "open",
            "counterparty": None,
            "counterparty_missing": True,
        },
    )

    # 45-47 mail from our own addresses: never a task (loop guard)
    for name, sender in (
        ("45_from_our_intake_address.eml", who("Бухгалтерия", ACC)),
        ("46_from_our_notification_sender.eml", who("Naryad", "noreply@naryad.test")),
        ("47_from_our_support_address.eml", who("Поддержка", "support@naryad.test")),
    ):
        part = text_part("Переслано правилом почтового ящика.", "utf-8", "8bit")
        headers(part, nxt(), sender, REMOTE, enc("Новая заявка"), {})
        write(name, part, {"outcome": "ignored", "reason_contains": "our own address"})

    # 48 a From without a domain: refused with the reason (HTTP 200, like every outcome)
    part = text_part("Касса не работает.", "utf-8", "8bit")
    headers(part, nxt(), "Анна <anna>", REMOTE, enc("Касса"), {"X-Mailer": "old-cgi-form"})
    write(
        "48_sender_without_domain.eml",
        part,
        {"outcome": "rejected", "reason_contains": "not an e-mail address"},
    )

    # 49 a known contact linked to a chain's restaurant: the task is the central office's
    part = text_part("Не работает касса на раздаче.", "utf-8", "8bit")
    headers(
        part,
        nxt(),
        who("Администратор Тверская", "admin.tverskaya@gmail.com"),
        REMOTE,
        enc("Касса на раздаче"),
        dict(IPHONE),
    )
    write(
        "49_chain_contact_linked_to_restaurant.eml",
        part,
        {
            "outcome": "task_created",
            "template": "remote_support",
            "counterparty": "Вкусно и Быстро",
            "contact_counterparty": "Вкусно и Быстро",
            "title": "Вкусно и Быстро: Касса на раздаче",
        },
    )

    (HERE / "corpus.json").write_text(
        json.dumps(corpus, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )


if __name__ == "__main__":
    build()
