"""The minute sweep of SLA automations (R10), postponed returns (R11) and housekeeping.

The same function runs as an arq cron job (`naryad worker`) and in the in-process loop of
`naryad serve` without Redis. It keeps no state: every run asks the database what is due,
and sla_fired makes a repeated or concurrent run harmless.
"""

from __future__ import annotations

from typing import Any

from server.lib.logs import get_logger
from server.sla.service import SweepReport, run_sla_sweep
from server.tasks import idempotency

log = get_logger("naryad.jobs.sla")
SLA_SWEEP_SECONDS = 60


async def sweep_sla(ctx: dict[str, Any] | None = None) -> dict[str, Any]:
    report: SweepReport = await run_sla_sweep()
    purged = await idempotency.purge_expired()
    if report.fired or report.resumed or purged:
        log.info("sla sweep", fired=report.fired, resumed=report.resumed, keys_purged=purged)
    return {"fired": report.fired, "resumed": report.resumed, "keys_purged": purged}
