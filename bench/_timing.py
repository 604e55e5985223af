"""Per-call timing shared by the side-by-side scripts: medians over calls split into rounds in
which the variants alternate, so every variant sees the same machine load."""

import statistics
import time


def per_call_us(fn):
    t = time.perf_counter_ns()
    fn()
    return (time.perf_counter_ns() - t) / 1e3


def time_variants(variants, calls, budget, rounds, warm=5, min_calls=30):
    """({name: median us}, calls per variant): at most `calls` calls and about `budget` seconds per
    variant, at least `min_calls`; `warm` calls first (the first calls size per-batch buffers)."""
    for fn in variants.values():
        for _ in range(warm):
            fn()
    one = max(statistics.median(per_call_us(fn) for _ in range(warm)) for fn in variants.values())
    calls = max(min_calls, min(calls, int(budget * 1e6 / max(one, 1e-3))))
    per_round = max(1, calls // rounds)
    times = {name: [] for name in variants}
    for _ in range(rounds):
        for name, fn in variants.items():
            times[name] += [per_call_us(fn) for _ in range(per_round)]
    return {name: statistics.median(v) for name, v in times.items()}, per_round * rounds
