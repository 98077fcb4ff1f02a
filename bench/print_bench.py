"""Print-form render speed: a one-page work order vs WeasyPrint's floor on this machine.

Run: .venv/bin/python bench/print_bench.py [-n 50]

Pinned to one CPU (a render is single-threaded Python anyway; pinning keeps the figure
comparable between a laptop and the 2-core CI box). Warm-up renders come first, so the per-thread
font and stylesheet setup is not counted: a server pays it once per worker thread. The baseline,
measured in the same run, is WeasyPrint rendering a trivial one-line HTML: the ratio says how
much our form costs on top of WeasyPrint's fixed per-document cost, independent of CPU speed.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from weasyprint import HTML

from printing.documents import TaskDocument
from printing.render import render_completion_act, render_work_order
from printing.sample import sample_document

TARGET_MS = 150.0


def pin_to_one_cpu() -> str:
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity here)"
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return f"pinned to CPU {cpu}"


def measure(fn: Callable[[], bytes], n: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return times


def first_render_ms(doc: TaskDocument) -> float:
    """One render in a fresh thread: pays the per-thread font and stylesheet setup once."""
    elapsed: list[float] = []

    def run() -> None:
        start = time.perf_counter()
        render_work_order(doc)
        elapsed.append((time.perf_counter() - start) * 1000)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return elapsed[0]


def page_count(pdf: bytes) -> int | None:
    try:
        from pypdf import PdfReader
    except ImportError:  # pypdf is a test dependency; the count is only a sanity line
        return None
    return len(PdfReader(io.BytesIO(pdf)).pages)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=50, help="timed renders per case")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--no-pin", action="store_true", help="do not pin to one CPU")
    args = parser.parse_args()

    pinning = "not pinned" if args.no_pin else pin_to_one_cpu()
    doc = sample_document()
    pages = page_count(render_work_order(doc))

    def baseline() -> bytes:
        pdf = HTML(string="<p>Hello</p>").write_pdf()
        assert pdf is not None
        return pdf

    long_doc = sample_document(lines=40)
    cases: list[tuple[str, Callable[[], bytes]]] = [
        ("baseline: one-line HTML", baseline),
        ("work order (1 page, 6 lines)", lambda: render_work_order(doc)),
        ("completion act (1 page, 6 lines)", lambda: render_completion_act(doc)),
        (
            f"work order ({page_count(render_work_order(long_doc)) or '?'} pages, 40 lines)",
            lambda: render_work_order(long_doc),
        ),
    ]
    print(f"python {sys.version.split()[0]}, {pinning}, n={args.n}, warm-up={args.warmup}")
    print(f"work order sample: {pages if pages is not None else '?'} page(s)")
    print(f"first render in a new thread (fonts + stylesheet setup): {first_render_ms(doc):.0f} ms")
    print(f"{'case':34} {'median ms':>10} {'p90 ms':>8} {'docs/s':>8} {'x baseline':>11}")
    medians: dict[str, float] = {}
    for name, fn in cases:
        times = measure(fn, args.n, args.warmup)
        median = statistics.median(times)
        p90 = statistics.quantiles(times, n=10)[-1] if len(times) >= 2 else median
        medians[name] = median
        ratio = median / medians[cases[0][0]]
        print(f"{name:34} {median:10.1f} {p90:8.1f} {1000 / median:8.1f} {ratio:11.1f}")

    order_ms = medians[cases[1][0]]
    verdict = "met" if order_ms <= TARGET_MS else "MISSED"
    print(f"target: work order median <= {TARGET_MS:.0f} ms: {verdict} ({order_ms:.1f} ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
