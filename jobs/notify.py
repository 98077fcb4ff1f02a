"""arq job functions for notifications. Each takes ids only and is idempotent: the row is
claimed with a conditional UPDATE, so a duplicate or a re-run of a sent row does nothing."""

from __future__ import annotations

from typing import Any

from server.notifications.delivery import Delivery, run_sweep


async def deliver_notification(ctx: dict[str, Any], notification_id: int) -> str:
    delivery: Delivery = ctx["delivery"]
    return await delivery.deliver(notification_id)


async def sweep_notifications(ctx: dict[str, Any]) -> int:
    """Cron: deliver what is due, including rows a killed worker left in 'sending'."""
    delivery: Delivery = ctx["delivery"]
    return await run_sweep(delivery)
