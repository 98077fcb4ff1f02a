"""A counting SMTP sink for bench/notify_bench.py: aiosmtpd on loopback, every message
answered 250 at once (a local MTA's speed, not a provider's).

    .venv/bin/python bench/smtp_sink.py SMTP_PORT CONTROL_PORT

A line protocol on CONTROL_PORT: `reset` clears the counters; `stats` answers
`accepted distinct connections bytes first last`: messages answered 250, distinct
Message-IDs among them, SMTP connections they came on, their total size, and the
CLOCK_MONOTONIC time (the same clock in every process on the machine) of the first and
the last 250 since the reset.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from aiosmtpd.smtp import SMTP


class Counter:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.accepted = 0
        self.bytes = 0
        self.ids: set[bytes] = set()
        self.peers: set[Any] = set()
        self.first = 0.0
        self.last = 0.0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw: bytes = envelope.original_content or b""
        start = raw.find(b"\nMessage-ID:")
        if start < 0:
            start = raw.find(b"\nMessage-Id:")
        end = raw.find(b"\r\n", start + 1)
        self.ids.add(raw[start:end] if start >= 0 else raw)
        self.peers.add(session.peer)
        now = time.monotonic()
        if not self.accepted:
            self.first = now
        self.last = now
        self.accepted += 1
        self.bytes += len(raw)
        return "250 OK"


async def main(smtp_port: int, control_port: int) -> None:
    counter = Counter()
    loop = asyncio.get_running_loop()
    smtp = await loop.create_server(
        lambda: SMTP(counter, hostname="sink.test", data_size_limit=10 * 1024 * 1024),
        host="127.0.0.1",
        port=smtp_port,
    )

    async def control(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            command = line.strip().decode()
            if command == "reset":
                counter.reset()
                writer.write(b"ok\n")
            elif command == "stats":
                writer.write(
                    f"{counter.accepted} {len(counter.ids)} {len(counter.peers)} {counter.bytes} "
                    f"{counter.first} {counter.last}\n".encode()
                )
            await writer.drain()
        writer.close()

    ctl = await asyncio.start_server(control, "127.0.0.1", control_port)
    print("ready", flush=True)
    async with smtp, ctl:
        await asyncio.gather(smtp.serve_forever(), ctl.serve_forever())


if __name__ == "__main__":
    try:  # (a faster loop for the sink: every path measured talks to it)
        import uvloop
    except ImportError:
        asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
    else:
        uvloop.run(main(int(sys.argv[1]), int(sys.argv[2])))
