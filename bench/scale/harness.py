"""One scale-out run: start everything, seed a company, drive the mixed workload through
Caddy while faults happen, then check what must hold and measure what it cost.

Used by bench/scale/scale_bench.py (the full run, with figures) and tests/scale/ (a short
run that asserts the invariants).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from bench.scale import checks as checking
from bench.scale import model
from bench.scale.checks import Check
from bench.scale.services import (
    ROOT,
    ApiProcess,
    Caddy,
    PgBouncer,
    PgCluster,
    RedisServer,
    SmtpSink,
    WorkerProcess,
    session_settings_sql,
)
from bench.scale.workload import NO_ANSWER, TIMEOUT, Api, Recorder, Workload, seed

FAULTS = ("api", "worker", "redis", "postgres", "smtp")
FAULT_NAMES = {
    "api": "kill -9 of an API process (restarted)",
    "worker": "kill -9 of a worker (restarted)",
    "redis": "Redis restarted (its queue lost)",
    "postgres": "PostgreSQL restarted (pg_ctl restart -m fast)",
    "smtp": "slow SMTP server",
}
PASSWORD = "scale-pass-1"
MAIL_DOMAIN = "scale.test"
MAX_LOGIN_FAILURES = 5
CLI_POOL = 4  # `naryad migrate` and the other commands (server/cli.py)


@dataclass
class Config:
    api: int = 3
    workers: int = 2
    engineers: int = 12
    office: int = 2
    checkers: int = 2
    think_s: float = 0.2
    create_every_s: float = 1.0
    idle_s: float = 5.0  # measured before the load: what the installation costs at rest
    warmup_s: float = 20.0
    fault_every_s: float = 25.0
    tail_s: float = 25.0
    faults: tuple[str, ...] = FAULTS
    restart_after_s: float = 5.0  # deploy/systemd: RestartSec=5
    request_timeout_s: float = 15.0
    smtp_slow_s: float = 3.0
    smtp_slow_for_s: float = 15.0
    recovery_window_s: float = 2.0
    recovery_fraction: float = 0.8
    recovery_limit_s: float = 10.0
    drain_timeout_s: float = 240.0
    notify_lease_s: float = 15.0
    notify_sweep_s: float = 2.0
    pool_max: int = 10
    pg_url: str | None = None  # an existing server (a database of its own is made there)
    redis_url: str | None = None  # an existing Redis database (flushed before and after)
    pgbouncer: bool = False
    statement_cache: int | None = None  # NARYAD_DB_STATEMENT_CACHE; None: 0 with pgbouncer
    workdir: Path | None = None
    keep: bool = False

    @property
    def load_s(self) -> float:
        return self.warmup_s + self.fault_every_s * max(0, len(self.faults) - 1) + self.tail_s

    def problems(self) -> list[str]:
        found = []
        if self.api < 1 or self.workers < 1:
            found.append("at least one API process and one worker")
        if "api" in self.faults and self.api < 2:
            found.append("killing an API process needs at least two of them")
        if "postgres" in self.faults and self.pg_url:
            found.append("the PostgreSQL restart needs the harness's own cluster (no --pg-url)")
        if "redis" in self.faults and self.redis_url:
            found.append("the Redis restart needs the harness's own redis-server (no --redis-url)")
        unknown = set(self.faults) - set(FAULTS)
        if unknown:
            found.append(f"unknown faults: {sorted(unknown)}")
        return found


@dataclass
class Fault:
    name: str
    at: float  # seconds since the load started
    done: float  # when the harness had finished causing it (restart returned, SMTP fast again)
    first_s: float | None = None  # from `at` to the first window back at full throughput
    settled_s: float | None = None  # from `done` to the last window below it before the next
    lowest: float = 0.0  # the lowest window's throughput after it, as a share of the baseline
    errors: int = 0  # failed requests between the fault and the next one

    def recovered(self, limit_s: float) -> bool:
        return (
            self.first_s is not None
            and self.settled_s is not None
            and self.first_s <= limit_s
            and self.settled_s <= limit_s
        )


@dataclass
class Report:
    config: Config
    recorder: Recorder
    faults: list[Fault] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    baseline_rps: float = 0.0
    steady: dict[str, Any] = field(default_factory=dict)
    deliveries_s: float = 0.0
    notifications: int = 0
    idle: dict[str, float] = field(default_factory=dict)  # cores used with no load
    lines: list[str] = field(default_factory=list)

    @property
    def invariants_ok(self) -> bool:
        return all(c.ok for c in self.checks if c.must)

    @property
    def recovered(self) -> bool:
        return all(f.recovered(self.config.recovery_limit_s) for f in self.faults)


def good(status: int) -> bool:
    return status not in (NO_ANSWER, TIMEOUT) and status < 500


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def rate_at(ends: list[float], start: float, window: float) -> float:
    return sum(1 for t in ends if start <= t < start + window) / window


def endpoint_table(samples: list[tuple[float, float, str, int]]) -> list[str]:
    by: dict[str, list[tuple[float, float, str, int]]] = {}
    for s in samples:
        by.setdefault(s[2], []).append(s)
    lines = [
        f"  {'endpoint':<38} {'requests':>8} {'p50 ms':>8} {'p99 ms':>8} {'4xx':>6} "
        f"{'5xx':>5} {'no answer':>9}"
    ]
    for name in sorted(by, key=lambda n: -len(by[n])):
        rows = by[name]
        ok = [(s[1] - s[0]) * 1000 for s in rows if good(s[3])] or [0.0]
        lines.append(
            f"  {name:<38} {len(rows):>8} {percentile(ok, 50):>8.1f} {percentile(ok, 99):>8.1f} "
            f"{sum(1 for s in rows if 400 <= s[3] < 500):>6} "
            f"{sum(1 for s in rows if s[3] >= 500):>5} "
            f"{sum(1 for s in rows if s[3] in (NO_ANSWER, TIMEOUT)):>9}"
        )
    return lines


class Installation:
    """Everything the run starts, and how to stop it."""

    def __init__(self, config: Config, progress: Callable[[str], None]) -> None:
        self.cfg = config
        self.say = progress
        self.workdir = config.workdir or Path(tempfile.mkdtemp(prefix="naryad-scale-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.workdir.chmod(0o755)  # initdb and pgbouncer run as another user
        self.pg: PgCluster | None = None
        self.bouncer: PgBouncer | None = None
        self.redis: RedisServer | None = None
        self.smtp: SmtpSink | None = None
        self.apis: list[ApiProcess] = []
        self.workers: list[WorkerProcess] = []
        self.caddy: Caddy | None = None
        self.db_url = ""  # straight to PostgreSQL (checks)
        self.app_db_url = ""  # what the processes use (through PgBouncer with --pgbouncer)
        self.redis_url = ""
        self._admin_url = ""
        self._database = ""

    # --- bring-up -------------------------------------------------------------------------

    def max_connections(self) -> int:
        """The budget of docs: every process's pool, a command-line process, the harness's
        checks, and PostgreSQL's reserved superuser slots (3) with room for an operator."""
        return (self.cfg.api + self.cfg.workers) * self.cfg.pool_max + CLI_POOL + 2 + 3 + 10

    async def start(self) -> None:
        cfg = self.cfg
        self.say(f"work folder {self.workdir}")
        if cfg.pg_url:
            self._admin_url = cfg.pg_url
        else:
            self.pg = PgCluster(self.workdir, self.max_connections())
            self.say(f"initdb + pg_ctl start ({self.pg.bin}, port {self.pg.port})")
            await asyncio.to_thread(self.pg.init)
            await asyncio.to_thread(self.pg.start)
            self._admin_url = self.pg.url("postgres")
        self._database = f"naryad_scale_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(self._admin_url, timeout=30)
        try:
            await admin.execute(f'CREATE DATABASE "{self._database}"')
            if cfg.pgbouncer:
                for sql in session_settings_sql(self._database):
                    await admin.execute(sql)
        finally:
            await admin.close()
        self.db_url = self._admin_url.rpartition("/")[0] + f"/{self._database}"
        self.app_db_url = self.db_url
        if cfg.pgbouncer:
            pool = (cfg.api + cfg.workers) * cfg.pool_max
            self.bouncer = PgBouncer(self.workdir, self.db_url, pool_size=max(10, pool // 2))
            await asyncio.to_thread(self.bouncer.start)
            self.app_db_url = self.bouncer.url(self._database)
            self.say(f"pgbouncer (transaction mode) on port {self.bouncer.port}")
        if cfg.redis_url:
            self.redis_url = cfg.redis_url
            await self._flush_redis()
        else:
            self.redis = RedisServer(self.workdir)
            await asyncio.to_thread(self.redis.start)
            self.redis_url = self.redis.url
        self.say(f"redis at {self.redis_url}")
        self.smtp = SmtpSink(self.workdir, cfg.smtp_slow_s)
        await asyncio.to_thread(self.smtp.start)

        env = self.env()
        self.say("naryad migrate")
        await asyncio.to_thread(self._cli, env, "migrate")
        await asyncio.to_thread(
            self._cli,
            env,
            "create-user",
            *("--login", "admin", "--password", PASSWORD, "--full-name", "Админ"),
            *("--surname", "Админ", "--role", "admin"),
        )
        self.apis = [ApiProcess(i + 1, env, self.workdir) for i in range(cfg.api)]
        self.workers = [WorkerProcess(i + 1, env, self.workdir) for i in range(cfg.workers)]
        self.say(f"starting {cfg.api} `naryad serve` and {cfg.workers} `naryad worker`")
        await asyncio.gather(*(asyncio.to_thread(p.start) for p in [*self.apis, *self.workers]))
        self.caddy = Caddy(
            "caddy", [a.url.removeprefix("http://") for a in self.apis], self.workdir
        )
        await asyncio.to_thread(self.caddy.start)
        self.say(f"caddy on {self.caddy.url} in front of {', '.join(a.url for a in self.apis)}")

    def env(self) -> dict[str, str]:
        assert self.smtp is not None
        inherited = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("NARYAD_") or k.startswith("NARYAD_TEST_")
        }
        env = {
            **inherited,
            "NARYAD_DATABASE_URL": self.app_db_url,
            "NARYAD_REDIS_URL": self.redis_url,
            "NARYAD_SECRET_KEY": "scale-harness-secret",
            "NARYAD_PUBLIC_URL": "http://127.0.0.1:8000",
            "NARYAD_MAIL_DOMAIN": MAIL_DOMAIN,
            "NARYAD_SMTP_HOST": "127.0.0.1",
            "NARYAD_SMTP_PORT": str(self.smtp.port),
            "NARYAD_SMTP_FROM": f"naryad@{MAIL_DOMAIN}",
            "NARYAD_NOTIFY_LEASE_S": str(self.cfg.notify_lease_s),
            "NARYAD_NOTIFY_SWEEP_S": str(self.cfg.notify_sweep_s),
            "NARYAD_DB_POOL_MAX": str(self.cfg.pool_max),
            "NARYAD_LOGIN_MAX_FAILURES": str(MAX_LOGIN_FAILURES),
            "NARYAD_LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
        cache = self.cfg.statement_cache
        if cache is None and self.cfg.pgbouncer:
            cache = 0
        if cache is not None:
            env["NARYAD_DB_STATEMENT_CACHE"] = str(cache)
        return env

    def _cli(self, env: dict[str, str], *args: str) -> None:
        out = subprocess.run(
            [sys.executable, "-m", "server.cli", *args],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if out.returncode != 0:
            raise RuntimeError(f"naryad {args[0]} failed:\n{out.stdout}{out.stderr}")

    async def _flush_redis(self) -> None:
        redis = aioredis.from_url(self.redis_url)
        try:
            await redis.flushdb()
        finally:
            await redis.aclose()

    # --- measuring ----------------------------------------------------------------------

    def cpu(self) -> dict[str, float]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        found = {
            "api": sum(p.cpu_s() for p in self.apis),
            "worker": sum(p.cpu_s() for p in self.workers),
            "caddy": self.caddy.cpu_s() if self.caddy else 0.0,
            "redis": self.redis.cpu_s() if self.redis else 0.0,
            "smtp sink": self.smtp.cpu_s() if self.smtp else 0.0,
            "load generator": usage.ru_utime + usage.ru_stime,
        }
        if self.pg is not None:
            found["postgres"] = self.pg.cpu_s()
        if self.bouncer is not None:
            found["pgbouncer"] = self.bouncer.cpu_s()
        return found

    # --- shutdown -----------------------------------------------------------------------

    async def stop(self) -> None:
        for proc in [self.caddy, *self.apis, *self.workers, self.smtp, self.bouncer]:
            if proc is not None:
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(proc.stop)
        if self.cfg.redis_url:
            with contextlib.suppress(Exception):
                await self._flush_redis()
        elif self.redis is not None:
            await asyncio.to_thread(self.redis.stop)
        if self.pg is not None:
            await asyncio.to_thread(self.pg.stop)
        elif self._database:
            with contextlib.suppress(Exception):
                admin = await asyncpg.connect(self._admin_url, timeout=30)
                try:
                    await admin.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                        self._database,
                    )
                    await admin.execute(f'DROP DATABASE IF EXISTS "{self._database}"')
                finally:
                    await admin.close()
        if not self.cfg.keep and self.cfg.workdir is None:
            shutil.rmtree(self.workdir, ignore_errors=True)


async def _cause(inst: Installation, name: str, cfg: Config) -> None:
    if name == "api":
        victim = inst.apis[len(inst.apis) // 2]
        await asyncio.to_thread(victim.kill9)
        await asyncio.sleep(cfg.restart_after_s)
        await asyncio.to_thread(victim.start)
    elif name == "worker":
        victim_w = inst.workers[0]
        await asyncio.to_thread(victim_w.kill9)
        await asyncio.sleep(cfg.restart_after_s)
        await asyncio.to_thread(victim_w.start)
    elif name == "redis":
        assert inst.redis is not None
        await asyncio.to_thread(inst.redis.restart)
    elif name == "postgres":
        assert inst.pg is not None
        await asyncio.to_thread(inst.pg.restart)
    elif name == "smtp":
        assert inst.smtp is not None
        inst.smtp.slow(True)
        await asyncio.sleep(cfg.smtp_slow_for_s)
        inst.smtp.slow(False)


async def run(cfg: Config, progress: Callable[[str], None] = print) -> Report:
    problems = cfg.problems()
    if problems:
        raise ValueError("; ".join(problems))
    inst = Installation(cfg, progress)
    rec = Recorder()
    report = Report(cfg, rec)
    try:
        await inst.start()
        assert inst.caddy is not None and inst.smtp is not None
        async with Api(inst.caddy.url, rec, cfg.request_timeout_s) as api:
            progress(
                f"seeding through the API: {cfg.office} office, {cfg.engineers} engineers, "
                f"{cfg.checkers} checkers"
            )
            company = await seed(
                api,
                "admin",
                PASSWORD,
                office=cfg.office,
                engineers=cfg.engineers,
                checkers=cfg.checkers,
                mail_domain=MAIL_DOMAIN,
            )
            # What the installation costs doing nothing (arq polls Redis every 50 ms, the
            # sweeps run, pools keep their connections): the costs below are net of it.
            idle_from = inst.cpu()
            await asyncio.sleep(cfg.idle_s)
            idle_to = inst.cpu()
            report.idle = {k: (idle_to[k] - idle_from[k]) / cfg.idle_s for k in idle_to}
            rec.samples.clear()
            rec.started = time.monotonic()
            work = Workload(api, company, think_s=cfg.think_s, create_every_s=cfg.create_every_s)
            progress(
                f"load for {cfg.load_s:.0f} s; faults: "
                + (", ".join(cfg.faults) if cfg.faults else "none")
            )
            running = asyncio.create_task(work.run())
            try:
                await _drive(inst, cfg, rec, report, progress)
            finally:
                work.stop.set()
                await running
            progress("cross-process checks (straight to each API process)")
            report.checks += await checking.cross_process(
                [a.url for a in inst.apis],
                company,
                inst.db_url,
                MAX_LOGIN_FAILURES,
                cfg.request_timeout_s,
            )
        progress("checking acknowledged writes")
        report.checks += await checking.verify_writes(inst.db_url, rec)
        progress(f"waiting for every notification (up to {cfg.drain_timeout_s:.0f} s)")
        states, report.deliveries_s = await checking.wait_for_deliveries(
            inst.db_url, cfg.drain_timeout_s
        )
        report.notifications = sum(states.values())
        kills = sum(1 for f in cfg.faults if f == "worker")
        report.checks += await checking.verify_notifications(
            inst.db_url, inst.smtp.accepted(), kills, states
        )
        _summarise(report, inst)
    finally:
        await inst.stop()
    return report


async def _drive(
    inst: Installation,
    cfg: Config,
    rec: Recorder,
    report: Report,
    progress: Callable[[str], None],
) -> None:
    """Faults on schedule; CPU snapshots around the quiet warm-up (the cost per request)."""
    steady_from = min(5.0, cfg.warmup_s / 3)
    await asyncio.sleep(steady_from)
    before = inst.cpu()
    sent_before = len(inst.smtp.accepted()) if inst.smtp else 0
    await asyncio.sleep(cfg.warmup_s - steady_from)
    after = inst.cpu()
    sent_after = len(inst.smtp.accepted()) if inst.smtp else 0
    in_window = [s for s in rec.samples if steady_from <= s[1] < cfg.warmup_s]
    report.steady = {
        "seconds": cfg.warmup_s - steady_from,
        "requests": sum(1 for s in in_window if good(s[3])),
        "cpu": {k: after[k] - before.get(k, 0.0) for k in after},
        "mails": sent_after - sent_before,
        "pg_backends": inst.pg.backends() if inst.pg else None,
    }
    progress(f"  quiet warm-up: {report.steady['requests'] / report.steady['seconds']:.0f} req/s")
    for n, name in enumerate(cfg.faults):
        at = cfg.warmup_s + n * cfg.fault_every_s
        await asyncio.sleep(max(0.0, at - rec.now()))
        started = rec.now()
        progress(f"  {started:6.1f} s  fault: {FAULT_NAMES[name]}")
        await _cause(inst, name, cfg)
        report.faults.append(Fault(name, started, rec.now()))
        progress(f"  {rec.now():6.1f} s  {name}: done")
    await asyncio.sleep(max(0.0, cfg.load_s - rec.now()))


def _summarise(report: Report, inst: Installation) -> None:
    cfg, rec = report.config, report.recorder
    samples = rec.samples
    ends = sorted(s[1] for s in samples if good(s[3]))
    step, window = 0.5, cfg.recovery_window_s
    starts = [i * step for i in range(int((cfg.load_s - window) / step) + 1)]
    rates = {t: rate_at(ends, t, window) for t in starts}
    steady_from = min(5.0, cfg.warmup_s / 3)
    base = [r for t, r in rates.items() if steady_from <= t <= cfg.warmup_s - window]
    report.baseline_rps = statistics.median(base) if base else 0.0
    target = cfg.recovery_fraction * report.baseline_rps
    for n, fault in enumerate(report.faults):
        until = report.faults[n + 1].at if n + 1 < len(report.faults) else cfg.load_s
        after = [t for t in starts if fault.at - step / 2 <= t <= until - window]
        # The first window back at full throughput after the fault ...
        first = next((t for t in after if rates[t] >= target), None)
        fault.first_s = None if first is None else max(0.0, first - fault.at)
        # ... and, once the harness has undone it (the killed process restarted, Redis or
        # PostgreSQL back, the mail server fast again), how long until no window falls
        # below full throughput any more before the next fault.
        later = [t for t in after if t >= fault.done - step / 2]
        below = [t for t in later if rates[t] < target]
        fault.settled_s = 0.0 if not below else below[-1] + step - fault.done
        if below and below[-1] + step > until - window:
            fault.settled_s = None  # still below when the next fault came
        lows = [rates[t] for t in after if t <= fault.done + cfg.recovery_limit_s]
        fault.lowest = min(lows) / report.baseline_rps if lows and report.baseline_rps else 0.0
        fault.errors = sum(1 for s in samples if fault.at <= s[0] < until and not good(s[3]))

    total_s = cfg.load_s
    lines = report.lines
    lines.append(
        f"== scale-out: {cfg.api} API processes behind Caddy, {cfg.workers} workers, "
        f"PostgreSQL{' through PgBouncer (transaction mode)' if cfg.pgbouncer else ''}, "
        f"Redis, SMTP sink =="
    )
    lines.append(
        f"people: {cfg.engineers} engineers, {cfg.office} office, {cfg.checkers} checkers; "
        f"think {cfg.think_s} s, a new visit every {cfg.create_every_s} s per office user; "
        f"client timeout {cfg.request_timeout_s} s"
    )
    good_n = sum(1 for s in samples if good(s[3]))
    lines.append(
        f"requests: {len(samples)} in {total_s:.0f} s ({good_n / total_s:.0f} answered/s), "
        f"{len(samples) - good_n} failed (5xx or no answer), {rec.replays} keyed writes resent"
    )
    lines.append(
        f"quiet throughput (median {window:.0f}-s window): {report.baseline_rps:.0f} req/s"
    )
    lines += endpoint_table(samples)
    if report.faults:
        lines.append(
            f"faults (full throughput: {cfg.recovery_fraction:.0%} of the quiet one in a "
            f"{window:.0f}-s window; 'first': from the fault to the first such window; "
            "'settled': from the end of the fault (restart done, SMTP fast again) to the last "
            f"window below it; limit {cfg.recovery_limit_s:.0f} s each):"
        )
        for fault in report.faults:
            first = "never" if fault.first_s is None else f"{fault.first_s:.1f} s"
            settled = "never" if fault.settled_s is None else f"{fault.settled_s:.1f} s"
            lines.append(
                f"  {fault.at:6.1f}-{fault.done:6.1f} s  {FAULT_NAMES[fault.name]:<46} first "
                f"{first:>7}  settled {settled:>7}  lowest {fault.lowest:4.0%}  "
                f"failed {fault.errors}"
            )
    per_s = [0] * (int(total_s) + 1)
    failed_s = [0] * (int(total_s) + 1)
    for sample in samples:
        second = min(int(sample[1]), int(total_s))
        if good(sample[3]):
            per_s[second] += 1
        else:
            failed_s[second] += 1
    marks = {int(f.at): "*" for f in report.faults}
    lines.append("answered requests per second (* a fault began; (n) failed in that second):")
    for row in range(0, len(per_s), 15):
        cells = [
            f"{marks.get(t, ' ')}{per_s[t]:3d}" + (f"({failed_s[t]})" if failed_s[t] else "")
            for t in range(row, min(row + 15, len(per_s)))
        ]
        lines.append(f"  {row:4d} s: " + " ".join(cells))
    steady = report.steady
    net: dict[str, float] = {}
    if steady and steady["requests"]:
        lines.append(
            f"CPU in the quiet warm-up ({steady['requests']} requests in "
            f"{steady['seconds']:.0f} s, {steady['mails']} e-mails sent), and per answered "
            "request net of the same "
            f"installation idle ({cfg.idle_s:.0f} s measured before the load):"
        )
        for name, seconds in sorted(steady["cpu"].items(), key=lambda kv: -kv[1]):
            idle = report.idle.get(name, 0.0)
            net[name] = max(0.0, seconds - idle * steady["seconds"])
            lines.append(
                f"  {name:<15} {seconds / steady['seconds']:5.2f} cores (idle {idle:4.2f})  "
                f"{net[name] / steady['requests'] * 1000:6.2f} ms/request"
                + (
                    f"  {net[name] / steady['mails'] * 1000:6.1f} ms/e-mail"
                    if name == "worker" and steady["mails"]
                    else ""
                )
            )
    lines.append(
        f"notifications: {report.notifications} rows, settled {report.deliveries_s:.0f} s after "
        "the load"
    )
    visits = sum(1 for kind, _, _ in rec.acked if kind == "approved")
    if steady and steady["requests"] and "postgres" in steady["cpu"] and visits:
        cpu, n = net, steady["requests"]
        lines += model.lines(
            model.Costs(
                api_ms=cpu["api"] / n * 1000,
                proxy_ms=cpu["caddy"] / n * 1000,
                postgres_ms=(cpu["postgres"] + cpu.get("pgbouncer", 0.0)) / n * 1000,
                redis_ms=cpu["redis"] / n * 1000,
                worker_ms_per_mail=cpu["worker"] / steady["mails"] * 1000 if steady["mails"] else 0,
                mails_per_visit=report.notifications / visits,
            )
        )
    lines.append("checks:")
    lines += [c.line() for c in report.checks]
    with contextlib.suppress(OSError):
        lines.append(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
