"""The global seed and the counter that hands out random streams (initializers, dropout, shuffles)."""

import secrets

_state = {"seed": secrets.randbits(62), "counter": 0}


def set_seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"set_random_seed expects a non-negative int, got {seed!r}")
    _state["seed"] = seed
    _state["counter"] = 0


def seed():
    return _state["seed"]


def next_stream():
    """A fresh stream id; with the seed it keys a counter-based RNG stream."""
    _state["counter"] += 1
    return _state["counter"]
