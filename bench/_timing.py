"""Per-call timing shared by the side-by-side scripts: medians over calls split into rounds in
which the variants alternate, so every variant sees the same machine load."""

import statistics
import time


def per_call_us(fn):
    t = time.perf_counter_ns()
    fn()
    return (time.perf_counter_ns() - t) / 1e3


def time_variants(variants, calls, budget, rounds, warm=5, min_calls=30, by_round=False):
    """({name: median us}, calls per variant): at most `calls` calls and about `budget` seconds per
    variant, at least `min_calls`; `warm` calls first (the first calls size per-batch buffers).
    by_round: also {name: [median us of each round]}, the rounds in order (paired_ratio)."""
    for fn in variants.values():
        for _ in range(warm):
            fn()
    one = max(statistics.median(per_call_us(fn) for _ in range(warm)) for fn in variants.values())
    calls = max(min_calls, min(calls, int(budget * 1e6 / max(one, 1e-3))))
    per_round = max(1, calls // rounds)
    times = {name: [] for name in variants}
    rounds_us = {name: [] for name in variants}
    for _ in range(rounds):
        for name, fn in variants.items():
            t = [per_call_us(fn) for _ in range(per_round)]
            times[name] += t
            rounds_us[name].append(statistics.median(t))
    med = {name: statistics.median(v) for name, v in times.items()}
    return (med, per_round * rounds, rounds_us) if by_round else (med, per_round * rounds)


def paired_ratio(a_rounds, b_rounds):
    """The median over rounds of a's time / b's time in the same round. Load on these shared hosts
    comes in bursts seconds long; a burst that falls on more of a's calls than b's moves the ratio
    of the overall medians, while each round's two figures were taken moments apart."""
    if len(a_rounds) != len(b_rounds) or not a_rounds:
        raise ValueError(f"paired_ratio needs the same number of rounds, got {len(a_rounds)} and {len(b_rounds)}")
    return statistics.median(a / b for a, b in zip(a_rounds, b_rounds))
