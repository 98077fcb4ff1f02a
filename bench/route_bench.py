"""The day route's cost (server/dispatch/routing.py): nearest neighbour + 2-opt over the
geodesic distance matrix, against plain nearest neighbour on the same points in the same
run (the baseline), for days of 6, 12 and 25 visits spread over Moscow.

    .venv/bin/python bench/route_bench.py [-n 200] [--seed 17]

Prints the median and p90 time of each, their ratio, how much shorter 2-opt makes the
path, and whether the 12-visit route meets the ≤ 50 ms target."""

from __future__ import annotations

import argparse
import random
import statistics
import time

from server.dispatch import routing

START = (55.751, 37.618)


def _points(rng: random.Random, n: int) -> list[tuple[float, float]]:
    return [(55.57 + rng.random() * 0.35, 37.37 + rng.random() * 0.5) for _ in range(n)]


def _time(fn, runs):  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        fn()
        times.append((time.perf_counter() - began) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.9) - 1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=200)
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    print(f"{'visits':>6} {'NN ms':>8} {'NN+2opt ms':>11} {'p90':>7} {'x NN':>6} {'shorter':>8}")
    twelve = 0.0
    for n in (6, 12, 25):
        days = [_points(rng, n) for _ in range(args.n)]

        def baseline(days=days):  # type: ignore[no-untyped-def]
            for stops in days:
                routing.nearest_neighbour(routing.distance_matrix([START, *stops]))

        def planned(days=days):  # type: ignore[no-untyped-def]
            for stops in days:
                routing.plan(START, stops)

        nn_ms, _ = _time(baseline, 3)
        plan_ms, _ = _time(planned, 3)
        per_nn, per_plan = nn_ms / args.n, plan_ms / args.n
        singles = [0.0] * 0
        for stops in days[:50]:
            began = time.perf_counter()
            routing.plan(START, stops)
            singles.append((time.perf_counter() - began) * 1000)
        singles.sort()
        p90 = singles[int(len(singles) * 0.9) - 1]
        gains = []
        for stops in days:
            matrix = routing.distance_matrix([START, *stops])
            nn = routing.path_length(matrix, routing.nearest_neighbour(matrix))
            opt = routing.path_length(
                matrix, routing.two_opt(matrix, routing.nearest_neighbour(matrix))
            )
            gains.append(1 - opt / nn)
        if n == 12:
            twelve = per_plan
        print(
            f"{n:>6} {per_nn:>8.2f} {per_plan:>11.2f} {p90:>7.2f} {per_plan / per_nn:>6.2f}"
            f" {statistics.mean(gains) * 100:>7.1f}%"
        )
    print(f"target: 12 visits <= 50 ms: {'met' if twelve <= 50 else 'MISSED'} ({twelve:.2f} ms)")


if __name__ == "__main__":
    main()
