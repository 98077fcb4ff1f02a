"""The transport's own limit, for bench/notify_bench.py: aiosmtplib alone pushing N copies
of one prebuilt message over 10 kept connections — no database, no rendering, no job
queue — on the same event loop as `naryad worker` (uvloop when installed).

    taskset -c 0 .venv/bin/python bench/smtp_floor.py SMTP_PORT N MESSAGE_FILE

Prints the CLOCK_MONOTONIC time at which it started sending (connections already open),
then the CPU seconds the sending took; bench/notify_bench.py takes the sink's last 250 as
the end.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import aiosmtplib

CONNECTIONS = 10


async def main(port: int, n: int, raw: bytes) -> None:
    conns = [aiosmtplib.SMTP(hostname="127.0.0.1", port=port) for _ in range(CONNECTIONS)]
    for conn in conns:
        await conn.connect()
    left = n

    async def lane(conn: aiosmtplib.SMTP) -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await conn.sendmail("naryad@naryad.test", ["client@romashka.test"], raw)

    cpu = time.process_time()
    print(time.monotonic(), flush=True)
    await asyncio.gather(*(lane(c) for c in conns))
    print(time.process_time() - cpu, flush=True)
    for conn in conns:
        await conn.quit()


if __name__ == "__main__":
    args = (int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]).read_bytes())
    try:
        import uvloop
    except ImportError:
        asyncio.run(main(*args))
    else:
        uvloop.run(main(*args))
