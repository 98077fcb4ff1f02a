"""Scale-out on loopback, with faults (issue 20). Run from the repository root:

    .venv/bin/python bench/scale/scale_bench.py            # the full run (~3 minutes)
    .venv/bin/python bench/scale/scale_bench.py --compare  # 3 API processes vs 1
    .venv/bin/python bench/scale/scale_bench.py --help

The full run starts a throwaway PostgreSQL cluster (initdb/pg_ctl, as the postgres user when
run as root), a throwaway redis-server, an SMTP sink, N `naryad serve` and M `naryad worker`
processes and Caddy with deploy/caddy/naryad.caddy in front of the API processes; seeds a
company through the API; drives engineers, office staff and checkers through Caddy while it
kills an API process and a worker, restarts Redis and PostgreSQL and slows the SMTP server
down; then checks that no acknowledged write was lost, every accept race had one winner,
every notification arrived (duplicates no more than worker kills), no request outlived the
client's timeout, and throughput came back within the limit after each fault. It prints
throughput, p50/p99 per endpoint, errors, the recovery after each fault and the CPU cost
per request of every component, and exits 1 if anything that must hold did not.

--compare measures throughput with wrk (pinned to the last CPU) through Caddy in front of
one API process and in front of all of them, in interleaved rounds, with the same mix.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.scale import compare, harness  # noqa: E402


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    d = harness.Config()
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--api", type=int, default=d.api, help="`naryad serve` processes")
    p.add_argument("--workers", type=int, default=d.workers, help="`naryad worker` processes")
    p.add_argument("--engineers", type=int, default=d.engineers)
    p.add_argument("--office", type=int, default=d.office)
    p.add_argument("--checkers", type=int, default=d.checkers)
    p.add_argument("--think", type=float, default=d.think_s, help="seconds between actions")
    p.add_argument(
        "--create-every", type=float, default=d.create_every_s, help="s between visits per office"
    )
    p.add_argument("--warmup", type=float, default=d.warmup_s, help="quiet seconds first")
    p.add_argument("--fault-every", type=float, default=d.fault_every_s)
    p.add_argument("--tail", type=float, default=d.tail_s, help="seconds after the last fault")
    p.add_argument(
        "--faults",
        default=",".join(d.faults),
        help=f"comma-separated, in order, from {','.join(harness.FAULTS)}; empty for none",
    )
    p.add_argument("--restart-after", type=float, default=d.restart_after_s)
    p.add_argument("--request-timeout", type=float, default=d.request_timeout_s)
    p.add_argument("--smtp-slow", type=float, default=d.smtp_slow_s, help="s per slow DATA")
    p.add_argument("--smtp-slow-for", type=float, default=d.smtp_slow_for_s)
    p.add_argument("--recovery-fraction", type=float, default=d.recovery_fraction)
    p.add_argument("--recovery-window", type=float, default=d.recovery_window_s)
    p.add_argument("--recovery-limit", type=float, default=d.recovery_limit_s)
    p.add_argument("--pool-max", type=int, default=d.pool_max, help="NARYAD_DB_POOL_MAX")
    p.add_argument(
        "--pgbouncer",
        action="store_true",
        help="every process through PgBouncer in transaction mode (NARYAD_DB_STATEMENT_CACHE=0)",
    )
    p.add_argument("--pg-url", help="an existing PostgreSQL server instead of a throwaway one")
    p.add_argument("--redis-url", help="an existing Redis database instead of a throwaway one")
    p.add_argument("--workdir", type=Path, help="keep logs and data here")
    p.add_argument("--keep", action="store_true", help="keep the temporary work folder")
    p.add_argument("--compare", action="store_true", help="3 vs 1 API processes with wrk")
    p.add_argument("--compare-seconds", type=float, default=10.0, help="per wrk round")
    p.add_argument("--compare-rounds", type=int, default=3)
    p.add_argument("--compare-connections", type=int, default=16)
    return p.parse_args(argv)


def config(args: argparse.Namespace) -> harness.Config:
    return harness.Config(
        api=args.api,
        workers=args.workers,
        engineers=args.engineers,
        office=args.office,
        checkers=args.checkers,
        think_s=args.think,
        create_every_s=args.create_every,
        warmup_s=args.warmup,
        fault_every_s=args.fault_every,
        tail_s=args.tail,
        faults=tuple(f for f in args.faults.split(",") if f),
        restart_after_s=args.restart_after,
        request_timeout_s=args.request_timeout,
        smtp_slow_s=args.smtp_slow,
        smtp_slow_for_s=args.smtp_slow_for,
        recovery_fraction=args.recovery_fraction,
        recovery_window_s=args.recovery_window,
        recovery_limit_s=args.recovery_limit,
        pool_max=args.pool_max,
        pg_url=args.pg_url,
        redis_url=args.redis_url,
        pgbouncer=args.pgbouncer,
        workdir=args.workdir,
        keep=args.keep,
    )


def main() -> None:
    args = parse()
    cfg = config(args)
    problems = cfg.problems()
    if problems:
        raise SystemExit("; ".join(problems))
    print(f"cpus: {os.cpu_count()}, load average at start: {os.getloadavg()}", flush=True)
    if args.compare:
        asyncio.run(
            compare.run(
                cfg,
                seconds=args.compare_seconds,
                rounds=args.compare_rounds,
                connections=args.compare_connections,
            )
        )
        return
    report = asyncio.run(harness.run(cfg, progress=lambda m: print(m, flush=True)))
    print()
    print("\n".join(report.lines))
    ok = report.invariants_ok and report.recovered
    print(
        "verdict: "
        + ("everything held" if ok else "FAILED")
        + ("" if report.invariants_ok else " (invariants)")
        + ("" if report.recovered else " (recovery)")
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
