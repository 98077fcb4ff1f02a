"""The sweep of planned maintenance (issue 16): create the tasks of due occurrences.

The same function runs as an arq cron job (`naryad worker`) and in the in-process loop of
`naryad serve` without Redis. It keeps no state: every run asks the database which plans
are due, and the unique (plan, occurrence) key makes a repeated or concurrent run harmless.
"""

from __future__ import annotations

from typing import Any

from server.maintenance.service import run_maintenance_sweep

MAINTENANCE_SWEEP_SECONDS = 60


async def sweep_maintenance(ctx: dict[str, Any] | None = None) -> dict[str, Any]:
    report = await run_maintenance_sweep()
    return {"plans": report.plans, "created": report.created, "failed": report.failed}
