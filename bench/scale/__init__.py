"""Scale-out on loopback (issue 20): Caddy in front of several `naryad serve` processes,
several `naryad worker` processes, an SMTP sink, PostgreSQL and Redis; a mixed workload of
engineers, office staff and checkers; faults while it runs; invariants checked afterwards.

`bench/scale/scale_bench.py --help` runs it; tests/scale/ runs a short version.
"""
