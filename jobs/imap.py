"""The worker's IMAP pass: with NARYAD_IMAP_URL set, `naryad worker` takes in what waits in
the mailboxes every minute (one worker per tick: arq's unique cron). `naryad imap-intake`
does the same continuously with IDLE; both may run, the bookkeeping keeps it exactly once.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from server.channels import imap
from server.lib.logs import get_logger
from server.settings import current as current_settings

log = get_logger("naryad.jobs.imap")
# Below the worker's job timeout; what is left waits for the next minute.
PASS_BUDGET_S = 40.0


async def poll_mailboxes(ctx: dict[str, Any] | None = None) -> dict[str, int]:
    settings = current_settings()
    if not settings.imap_url:
        return {}
    total: Counter[str] = Counter()
    deadline = time.monotonic() + PASS_BUDGET_S
    for mailbox in imap.parse_mailboxes(settings.imap_url):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            total += await imap.drain_mailbox(mailbox, settings, budget_s=left)
        except Exception as exc:  # one mailbox's trouble must not stop the others
            log.warning("imap: pass failed", mailbox=str(mailbox), error=repr(exc))
    return dict(total)
