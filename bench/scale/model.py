"""A paper model: how many field engineers one API node and one PostgreSQL primary serve,
from the CPU each answered request cost in a measured run.

What an engineer's phone asks of the server comes from the PWA itself, plus the work a
visit takes; the rest are stated assumptions (change them here, the model is re-printed by
every full run of bench/scale/scale_bench.py):

* the feed is polled every 30 s while the app is open (pwa/js/feed.js POLL_MS);
* with location sharing on, a position every 60 s (pwa/js/dispatch.js, at least 60 s);
* a visit takes REQUESTS_PER_VISIT requests of the engineer (list, card, accept, depart,
  arrive, photos, done, the list again between steps) and OFFICE_PER_VISIT of the office
  and the checker (create, assign, lists, export, approve);
* VISITS_PER_DAY visits in a SHIFT_H-hour shift, the app open all shift;
* the busiest hour brings PEAK times the average rate;
* a node is planned to UTILISATION of its cores (the rest is headroom for spikes, GC,
  the OS), and the measured cost per request holds on its cores (the measuring machine's
  cores are shared and slower than a server's: the model errs low).
"""

from __future__ import annotations

from dataclasses import dataclass

FEED_POLL_S = 30.0
LOCATION_EVERY_S = 60.0
REQUESTS_PER_VISIT = 15
OFFICE_PER_VISIT = 12
VISITS_PER_DAY = 8
SHIFT_H = 8.0
PEAK = 3.0
UTILISATION = 0.6
CORES = 8


@dataclass
class Costs:
    """Measured: CPU milliseconds per answered request, per e-mail for the workers."""

    api_ms: float
    proxy_ms: float
    postgres_ms: float
    redis_ms: float
    worker_ms_per_mail: float
    mails_per_visit: float


def engineer_rps() -> tuple[float, float]:
    """(average, peak) requests per second one engineer causes, office and checker included."""
    shift_s = SHIFT_H * 3600
    background = shift_s / FEED_POLL_S + shift_s / LOCATION_EVERY_S
    work = VISITS_PER_DAY * (REQUESTS_PER_VISIT + OFFICE_PER_VISIT)
    average = (background + work) / shift_s
    return average, average * PEAK


def lines(costs: Costs) -> list[str]:
    average, peak = engineer_rps()
    budget_ms = CORES * UTILISATION * 1000  # CPU-ms per second a node may spend
    api_node = budget_ms / (costs.api_ms + costs.proxy_ms)
    primary = budget_ms / (costs.postgres_ms + costs.redis_ms)
    mails_per_s = VISITS_PER_DAY / (SHIFT_H * 3600) * PEAK * costs.mails_per_visit
    worker_core_per_engineer = mails_per_s * costs.worker_ms_per_mail / 1000
    out = [
        "paper model (bench/scale/model.py; assumptions there):",
        f"  one engineer: {average:.3f} req/s over a {SHIFT_H:.0f}-h shift (feed every "
        f"{FEED_POLL_S:.0f} s, position every {LOCATION_EVERY_S:.0f} s, {VISITS_PER_DAY} visits "
        f"x {REQUESTS_PER_VISIT + OFFICE_PER_VISIT} requests), {peak:.3f} req/s in the peak "
        f"hour (x{PEAK:.0f})",
        f"  measured CPU per request: API {costs.api_ms:.2f} ms + Caddy {costs.proxy_ms:.2f} ms; "
        f"PostgreSQL {costs.postgres_ms:.2f} ms + Redis {costs.redis_ms:.2f} ms; workers "
        f"{costs.worker_ms_per_mail:.1f} ms per e-mail, {costs.mails_per_visit:.1f} e-mails "
        "per visit",
        f"  one {CORES}-core API node at {UTILISATION:.0%}: {api_node:,.0f} req/s = "
        f"{api_node / peak:,.0f} engineers at peak",
        f"  one {CORES}-core PostgreSQL primary (+ Redis) at {UTILISATION:.0%}: "
        f"{primary:,.0f} req/s = {primary / peak:,.0f} engineers at peak (CPU only; "
        "writes also need the disk to keep up with the WAL)",
        f"  workers: {worker_core_per_engineer * 1000:.3f} CPU-ms/s per engineer at peak "
        f"(one core per {1 / worker_core_per_engineer:,.0f} engineers)"
        if worker_core_per_engineer
        else "  workers: no e-mail measured",
    ]
    return out
