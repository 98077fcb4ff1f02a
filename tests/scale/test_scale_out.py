"""Scale-out, the short version of bench/scale/scale_bench.py (issue 20).

Two `naryad serve` processes behind Caddy (deploy/caddy/naryad.caddy as it is), one
`naryad worker`, an SMTP sink, PostgreSQL and Redis from the test settings (a database of
their own). Engineers, office staff and checkers work through Caddy for about forty seconds;
one API process is killed with SIGKILL and restarted meanwhile. Then, straight to each API
process: a session, an idempotent replay (in turn and as twins at once) and a login lockout
made on one process hold on the other. Then the invariants: every acknowledged write is in
the database and none happened twice, each task had exactly one accept winner, every
notification reached the SMTP sink with no duplicate, and no request outlived the client's
timeout. Speed is not asserted (a loaded CI machine); the figures are printed.
"""

from __future__ import annotations

import os
import sys

from naryad_harness import PG_URL, ROOT

sys.path.insert(0, str(ROOT))  # bench/ is not installed; the harness lives there

from bench.scale import harness

REDIS_BASE = os.environ.get("NARYAD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_URL = REDIS_BASE.rsplit("/", 1)[0] + "/8"  # a db of its own, flushed by the harness


async def test_two_api_processes_behind_caddy_lose_nothing_when_one_is_killed() -> None:
    cfg = harness.Config(
        api=2,
        workers=1,
        engineers=8,
        office=2,
        checkers=1,
        warmup_s=12,
        tail_s=20,
        faults=("api",),
        restart_after_s=2,
        # generous for a loaded 2-core machine: a hang is a request that takes this long
        request_timeout_s=30,
        drain_timeout_s=180,
        pg_url=PG_URL,
        redis_url=REDIS_URL,
        pool_max=5,  # NARYAD_DB_POOL_MAX: gentle on the shared test server
    )
    report = await harness.run(cfg, progress=lambda m: print(m, flush=True))
    print("\n".join(report.lines))
    assert [f.name for f in report.faults] == ["api"]
    failed = [c.line() for c in report.checks if not c.ok]
    assert failed == [], "\n".join(failed)
    names = {c.name for c in report.checks}
    assert {
        "an idempotent create replayed on another process",
        "two copies of one create at once on two processes",
        "an accept replayed on another process",
        "a login lockout made on one process holds on the others",
        "exactly one accept winner per task",
        "every notification delivered",
    } <= names
    # the run did work: visits went all the way through, races happened
    acked = [kind for kind, _, _ in report.recorder.acked]
    assert acked.count("approved") >= 3 and acked.count("accepted") >= 3, acked
    assert any(len(tries) > 1 for tries in report.recorder.accept_tries.values())
