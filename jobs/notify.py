"""arq job functions for notifications. Each takes ids only and is idempotent.

In `naryad worker` the delivering loop (Delivery.pump) claims due rows in batches itself;
a job enqueued after a commit only wakes it, so the loop does not wait for its next tick.
Where no loop runs, the job delivers its row: claimed with a conditional UPDATE, so a
duplicate or a re-run of a sent row does nothing."""

from __future__ import annotations

from typing import Any

from server.notifications.delivery import Delivery, run_sweep


async def deliver_notification(ctx: dict[str, Any], notification_id: int) -> str:
    delivery: Delivery = ctx["delivery"]
    if delivery.pumping:
        delivery.wake()
        return "woken"
    return await delivery.deliver(notification_id)


async def sweep_notifications(ctx: dict[str, Any]) -> int:
    """Deliver what is due, including rows a killed worker left in 'sending' (the loop,
    when it runs, does this every NARYAD_NOTIFY_SWEEP_S on its own)."""
    delivery: Delivery = ctx["delivery"]
    if delivery.pumping:
        delivery.wake()
        return 0
    return await run_sweep(delivery)
