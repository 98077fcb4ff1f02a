"""The baseline of bench/notify_bench.py: a default arq worker whose job sends one mail.

    taskset -c 0 .venv/bin/arq bench.notify_arq_baseline.WorkerSettings

Plain `WorkerSettings` (arq's defaults: 10 jobs at a time, a 0.5 s poll), Redis from
BENCH_ARQ_REDIS, and a job that builds a two-part message (text and HTML, a Cyrillic
subject) and hands it to `aiosmtplib.send` — what a small application writes for "send
this mail in the background". No database: the job knows everything it sends.
"""

from __future__ import annotations

import os
from email.message import EmailMessage
from typing import Any, ClassVar

import aiosmtplib
from arq.connections import RedisSettings


async def send_mail(ctx: dict[str, Any], i: int) -> None:
    msg = EmailMessage()
    msg["From"] = "naryad@naryad.test"
    msg["To"] = "client@romashka.test"
    msg["Subject"] = f"[#{i}] Ромашка: касса не печатает чек"
    msg["Message-ID"] = f"<arq.{i}@naryad.test>"
    msg.set_content(f"Здравствуйте! Перезагрузите кассу.\n\n--\nСмирнова Анна ({i})\n")
    msg.add_alternative(f"<p>Здравствуйте! Перезагрузите кассу.</p><p>{i}</p>", subtype="html")
    await aiosmtplib.send(
        msg, hostname="127.0.0.1", port=int(os.environ["BENCH_SMTP_PORT"]), timeout=30
    )


class WorkerSettings:
    functions: ClassVar = [send_mail]
    redis_settings = RedisSettings.from_dsn(
        os.environ.get("BENCH_ARQ_REDIS", "redis://127.0.0.1:6379/15")
    )
