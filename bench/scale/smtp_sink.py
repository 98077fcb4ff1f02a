"""An SMTP sink for the scale harness, as a process of its own (aiosmtpd on loopback).

Every accepted message's Message-ID is appended to --out, one per line, flushed at once,
after the server has decided to answer 250. SIGUSR1 makes the server slow (each DATA is
answered after --slow-s seconds), SIGUSR2 fast again: a provider having a bad minute.

    python bench/scale/smtp_sink.py --port 2525 --out sink.txt [--slow-s 3]
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import threading
from email.parser import BytesHeaderParser
from typing import Any, TextIO

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, out: TextIO, slow_s: float) -> None:
        self.out = out
        self.slow_s = slow_s
        self.slow = False

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.slow:
            await asyncio.sleep(self.slow_s)
        headers = BytesHeaderParser().parsebytes(envelope.original_content)
        message_id = str(headers.get("Message-ID", "")).strip() or "<none>"
        self.out.write(f"{message_id}\n")
        self.out.flush()
        return "250 OK"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", required=True, help="file the accepted Message-IDs go to")
    parser.add_argument("--slow-s", type=float, default=3.0, help="delay per DATA when slow")
    args = parser.parse_args()
    with open(args.out, "a", encoding="utf-8") as out:
        sink = Sink(out, args.slow_s)
        controller = Controller(sink, hostname="127.0.0.1", port=args.port)
        controller.start()
        print(f"smtp sink on 127.0.0.1:{args.port}", flush=True)

        stop = threading.Event()

        def slow(on: bool) -> None:
            sink.slow = on  # read by the server's thread; one bool, no lock needed
            print(f"smtp sink: {'slow' if on else 'fast'}", flush=True)

        signal.signal(signal.SIGUSR1, lambda *_: slow(True))
        signal.signal(signal.SIGUSR2, lambda *_: slow(False))
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        try:
            while not stop.wait(1):
                pass
        finally:
            controller.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
