"""`naryad mail-intake`: an SMTP listener (aiosmtpd) feeding the one intake function."""

from __future__ import annotations

import asyncio
from typing import Any

from aiosmtpd.smtp import SMTP

from server.channels import intake
from server.lib.logs import get_logger

log = get_logger("naryad.channels.smtp")


def _smtp_text(reason: str) -> str:
    # SMTP replies are ASCII; a Russian reason keeps its shape with '?' for letters.
    return " ".join(reason.split()).encode("ascii", "replace").decode()[:400]


class IntakeHandler:
    def __init__(self, domain: str | None) -> None:
        self.domain = (domain or "").lower()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if self.domain and not address.lower().endswith("@" + self.domain):
            return f"550 5.1.1 <{address}>: not a mailbox of {self.domain}"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        try:
            result = await intake.receive_mail(
                raw,
                envelope_from=envelope.mail_from or "",
                recipients=[a.lower() for a in envelope.rcpt_tos],
            )
        except Exception as exc:
            log.exception("mail intake failed", error=repr(exc))
            return "451 4.3.0 temporary failure, try again later"
        if result.outcome == "rejected":
            return f"550 5.7.1 {_smtp_text(result.reason or 'rejected')}"
        detail = f" task {result.task_id}" if result.task_id else ""
        return f"250 2.0.0 {result.outcome}{detail}"


async def serve(host: str, port: int, domain: str | None, max_bytes: int) -> None:
    handler = IntakeHandler(domain)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, data_size_limit=max_bytes + 1024 * 1024, hostname=domain or host),
        host=host,
        port=port,
    )
    log.info("mail intake listening", host=host, port=port, domain=domain)
    async with server:
        await server.serve_forever()
