"""The order of a day's visits (pure: points in, order out).

An open path from a fixed start (the engineer's position) through every stop, not back.
Nearest neighbour gives a first order in O(n²); 2-opt then reverses any stretch of it that
makes the path shorter, until no reversal helps. For a day's dozen visits this is within a
few percent of the best order and takes milliseconds (bench/route_bench.py); an exact
solver would buy little for a rough plan that traffic upsets anyway.

Distances are geodesic (geopy, WGS-84): straight lines, not roads.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from server.lib.geo import geodesic

Point = tuple[float, float]


def distance_matrix(points: Sequence[Point]) -> list[list[float]]:
    """Metres between every pair; symmetric, computed once per pair."""
    n = len(points)
    matrix = [[0.0] * n for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            matrix[i][j] = matrix[j][i] = geodesic(points[i], points[j]).meters
    return matrix


def path_length(matrix: list[list[float]], order: Sequence[int]) -> float:
    return sum(matrix[a][b] for a, b in itertools.pairwise(order))


def nearest_neighbour(matrix: list[list[float]]) -> list[int]:
    """From node 0 (the start), always on to the nearest stop not yet visited."""
    n = len(matrix)
    order = [0]
    left = set(range(1, n))
    while left:
        here = order[-1]
        nxt = min(left, key=lambda j: (matrix[here][j], j))
        order.append(nxt)
        left.remove(nxt)
    return order


def two_opt(matrix: list[list[float]], order: list[int]) -> list[int]:
    """Improve an open path whose first node stays first: reverse order[i..k] whenever that
    shortens it, until no reversal does."""
    best = list(order)
    n = len(best)
    improved = True
    while improved:
        improved = False
        for i in range(1, n - 1):
            for k in range(i + 1, n):
                a, b = best[i - 1], best[i]
                c = best[k]
                before = matrix[a][b]
                after = matrix[a][c]
                if k + 1 < n:
                    d = best[k + 1]
                    before += matrix[c][d]
                    after += matrix[b][d]
                if after < before - 1e-6:
                    best[i : k + 1] = reversed(best[i : k + 1])
                    improved = True
    return best


def plan(start: Point, stops: Sequence[Point]) -> tuple[list[int], list[float]]:
    """The order of `stops` (indexes into it) from `start`, and each leg's metres."""
    if not stops:
        return [], []
    matrix = distance_matrix([start, *stops])
    order = two_opt(matrix, nearest_neighbour(matrix))
    legs = [matrix[a][b] for a, b in itertools.pairwise(order)]
    return [i - 1 for i in order[1:]], legs
