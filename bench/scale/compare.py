"""Throughput with all API processes behind Caddy against one, measured by wrk.

Two Caddy instances run the same deploy/caddy/naryad.caddy: one in front of the first API
process only, one in front of all of them. wrk (one thread, pinned to the last CPU) drives
an engineer's mix through each in interleaved rounds (A, B, A, B …): 70 % queue lists,
20 % task cards, 10 % internal comments (a write), each with one of the engineers' tokens.
Each pair of rounds is run twice: with the server processes (API, PostgreSQL, Redis, Caddy,
workers) pinned to the CPUs wrk does not use, and with them free to use every CPU.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import statistics
import subprocess
from pathlib import Path

from bench.scale.harness import MAIL_DOMAIN, PASSWORD, Config, Installation
from bench.scale.services import Caddy, children_of, tool
from bench.scale.workload import Api, Recorder, seed

LIST = (
    "/api/tasks?queue=mine&template=field_visit&status=new,accepted,en_route,in_progress&limit=20"
)


def lua_script(tokens: list[str], task_ids: list[int]) -> str:
    return f"""-- written by bench/scale/compare.py
local tokens = {{{", ".join(f'"{t}"' for t in tokens)}}}
local ids = {{{", ".join(str(i) for i in task_ids)}}}
local n = 0
request = function()
  n = n + 1
  local headers = {{["Authorization"] = "Bearer " .. tokens[(n % #tokens) + 1]}}
  local pick = math.random(100)
  if pick <= 70 then
    return wrk.format("GET", "{LIST}", headers)
  elseif pick <= 90 then
    return wrk.format("GET", "/api/tasks/" .. ids[math.random(#ids)], headers)
  end
  headers["Content-Type"] = "application/json"
  local body = '{{"body": "Проверил, жду запчасть", "public": false}}'
  return wrk.format("POST", "/api/tasks/" .. ids[math.random(#ids)] .. "/comments", headers, body)
end
"""


UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def parse_wrk(out: str) -> dict[str, float]:
    found: dict[str, float] = {}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    found["rps"] = float(m.group(1)) if m else 0.0
    for pct in ("50", "99"):
        m = re.search(rf"^\s+{pct}(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        found[f"p{pct}"] = float(m.group(1)) * UNITS[m.group(2)] if m else 0.0
    m = re.search(r"(\d+) requests in", out)
    found["requests"] = float(m.group(1)) if m else 0.0
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    found["non2xx"] = float(m.group(1)) if m else 0.0
    m = re.search(r"Socket errors: .*", out)
    found["socket_errors"] = 1.0 if m else 0.0
    return found


def pin(inst: Installation, cpus: set[int], *more: Caddy | None) -> None:
    """Move every server process (and PostgreSQL's backends) onto `cpus`."""
    pids = [p.pid for p in [*inst.apis, *inst.workers] if p.alive()]
    for proc in (inst.caddy, inst.redis, inst.smtp, *more):
        if proc is not None and proc.alive():
            pids.append(proc.pid)
    if inst.pg is not None and inst.pg.postmaster_pid():
        postmaster = inst.pg.postmaster_pid()
        assert postmaster is not None
        pids += [postmaster, *children_of(postmaster)]
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                os.sched_setaffinity(int(task.name), cpus)


async def run(cfg: Config, *, seconds: float, rounds: int, connections: int) -> None:
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        raise SystemExit("--compare needs at least two CPUs (wrk gets one of its own)")
    wrk = tool("wrk", "wrk")
    taskset = shutil.which("taskset") or "taskset"
    wrk_cpu, server_cpus = cpus[-1], set(cpus[:-1])
    cfg.faults = ()
    inst = Installation(cfg, lambda m: print(m, flush=True))
    one: Caddy | None = None
    try:
        await inst.start()
        assert inst.caddy is not None
        one = Caddy("caddy-one", [inst.apis[0].url.removeprefix("http://")], inst.workdir)
        await asyncio.to_thread(one.start)
        rec = Recorder()
        async with Api(inst.caddy.url, rec, cfg.request_timeout_s) as api:
            company = await seed(
                api,
                "admin",
                PASSWORD,
                office=cfg.office,
                engineers=cfg.engineers,
                checkers=cfg.checkers,
                mail_domain=MAIL_DOMAIN,
            )
            office = company.office[0]
            ids = []
            for n in range(60):  # a queue worth listing: visits waiting and held
                cp = company.counterparties[n % len(company.counterparties)]
                body = {
                    "template": "field_visit",
                    "title": f"{cp['name']}: не печатает чек",
                    "counterparty_id": cp["id"],
                    "site_id": cp["site_id"],
                }
                if n % 2:
                    body["assignee_id"] = company.engineers[n % len(company.engineers)].id
                status, data = await api.write("seed", "/api/tasks", office, body)
                assert status == 201, data
                ids.append(data["id"])
        script = inst.workdir / "mix.lua"
        script.write_text(lua_script([e.token for e in company.engineers], ids))
        targets = [("1 API process", one), (f"{cfg.api} API processes", inst.caddy)]
        print(
            f"wrk -t1 -c{connections} -d{seconds:.0f}s on CPU {wrk_cpu}; {rounds} interleaved "
            f"rounds per layout; mix: 70 % lists, 20 % cards, 10 % comments",
            flush=True,
        )
        results: dict[tuple[str, str], list[dict[str, float]]] = {}
        layouts = [
            (f"servers on CPU {','.join(map(str, sorted(server_cpus)))}", server_cpus),
            ("servers on every CPU", set(cpus)),
        ]
        for layout, allowed in layouts:
            pin(inst, allowed, one)
            for r in range(rounds):
                for name, caddy in targets:
                    before = inst.cpu()
                    out = await asyncio.to_thread(
                        subprocess.run,
                        [
                            taskset,
                            "-c",
                            str(wrk_cpu),
                            wrk,
                            "-t1",
                            f"-c{connections}",
                            f"-d{seconds:.0f}s",
                            "--latency",
                            "-s",
                            str(script),
                            caddy.url,
                        ],
                        capture_output=True,
                        text=True,
                        timeout=seconds + 60,
                    )
                    after = inst.cpu()
                    got = parse_wrk(out.stdout)
                    got["api_cpu_ms"] = (
                        (after["api"] - before["api"]) / got["requests"] * 1000
                        if got["requests"]
                        else 0.0
                    )
                    servers = sum(v for k, v in after.items() if k != "load generator") - sum(
                        v for k, v in before.items() if k != "load generator"
                    )
                    got["server_cores"] = servers / seconds
                    got["per_core_s"] = got["requests"] / servers if servers else 0.0
                    got["pg_cpu_ms"] = (
                        (after.get("postgres", 0) - before.get("postgres", 0))
                        / got["requests"]
                        * 1000
                        if got["requests"]
                        else 0.0
                    )
                    results.setdefault((layout, name), []).append(got)
                    print(
                        f"  {layout:<24} round {r + 1}  {name:<16} {got['rps']:7.0f} req/s  "
                        f"p50 {got['p50']:6.1f} ms  p99 {got['p99']:6.1f} ms  "
                        f"non-2xx {got['non2xx']:.0f}  servers used {got['server_cores']:.2f} "
                        f"cores, {got['per_core_s']:.0f} req per CPU-s  API "
                        f"{got['api_cpu_ms']:.2f} ms CPU/req  PostgreSQL "
                        f"{got['pg_cpu_ms']:.2f} ms CPU/req",
                        flush=True,
                    )
        print("\nmedians:")
        for layout, _ in layouts:
            medians = {}
            for name, _ in targets:
                runs = results[(layout, name)]
                medians[name] = statistics.median(g["rps"] for g in runs)
                print(
                    f"  {layout:<24} {name:<16} {medians[name]:7.0f} req/s  p99 "
                    f"{statistics.median(g['p99'] for g in runs):6.1f} ms  servers used "
                    f"{statistics.median(g['server_cores'] for g in runs):.2f} cores, "
                    f"{statistics.median(g['per_core_s'] for g in runs):.0f} req per CPU-s"
                )
            first, last = (medians[n] for n, _ in targets)
            print(f"  {layout:<24} {targets[1][0]} / 1: {last / first:.2f}")
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        if one is not None:
            await asyncio.to_thread(one.stop)
        await inst.stop()
