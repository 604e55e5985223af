"""keras.random (as `bigcore.random`): normal, uniform, truncated_normal, dropout, SeedGenerator.

Inside a traced call() (a custom layer, e.g. a VAE's sampling layer) a draw is a node of the
program, the primitive random_normal / random_uniform: new values every step, keyed by (the
model's seed, the op's stream, the step, the batch's first row), the same for any thread count;
its shape may hold the batch size and run-time lengths (ops.shape inside the call). Outside a
model it runs at once and returns a NumPy array (a new stream per call).
"""

import numpy as np

from bigcore import _random
from bigcore.layers.base import active_trace
from bigcore.layers.dims import Dim
from bigcore.ops.node import OpLayer, apply, is_symbolic
from bigcore.ops.nn import dropout  # noqa: F401  (keras.random.dropout)


class SeedGenerator:
    """Keras's SeedGenerator: each draw that takes it gets its own stream, in the order drawn."""

    def __init__(self, seed=None, name=None, **kwargs):
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise ValueError(f"SeedGenerator: seed must be an int or None. Received: seed={seed!r}")
        self.seed = seed
        self.name = name
        self._base = int(seed) if seed is not None else _random.next_stream()
        self._draws = 0

    def next_stream(self):
        self._draws += 1
        return (self._base * 1000003 + self._draws) & 0x7FFFFFFFFFFFFFFF


def _stream(seed):
    if isinstance(seed, SeedGenerator):
        return seed.next_stream()
    if seed is None:
        return _random.next_stream()
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an int, a SeedGenerator or None. Received: seed={seed!r}")
    return int(seed)


def _draw(kind, shape, attrs, dtype, seed):
    shape = (shape,) if isinstance(shape, (int, np.integer, Dim)) else tuple(shape)
    if dtype not in (None, "float32", np.float32):
        raise ValueError(f"{kind}: bigcore draws float32. Received: dtype={dtype!r}")
    attrs = {**attrs, "stream": _stream(seed), "_dtype": "float32"}
    if any(isinstance(d, Dim) for d in shape) or active_trace() is not None:
        # a node of the traced program (never a constant frozen at trace time)
        if any(isinstance(d, Dim) for d in shape):
            return OpLayer(kind, {**attrs, "_shape": list(shape)}).record([])[0]
        return OpLayer(kind, {**attrs, "shape": [int(d) for d in shape]}).record([])[0]
    return apply(kind, [], {**attrs, "shape": [int(d) for d in shape]})


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    return _draw("random_normal", shape, {"mean": float(mean), "stddev": float(stddev), "truncated": 0}, dtype, seed)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Keras's: redrawn outside two standard deviations."""
    return _draw("random_normal", shape, {"mean": float(mean), "stddev": float(stddev), "truncated": 1}, dtype, seed)


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    return _draw("random_uniform", shape, {"minval": float(minval), "maxval": float(maxval)}, dtype, seed)


def _eager_only(name, *args):
    if any(isinstance(a, (Dim,)) for a in args) or active_trace() is not None or is_symbolic(list(args)):
        raise NotImplementedError(f"bigcore.random.{name} runs on arrays only (not inside a model's call() yet)")


def randint(shape, minval, maxval, dtype="int32", seed=None):
    """Integers uniform in [minval, maxval) (eager)."""
    _eager_only("randint", shape)
    if dtype not in ("int32", "int64", np.int32, np.int64):
        raise ValueError(f"randint draws integers. Received: dtype={dtype!r}")
    u = uniform(shape, 0.0, 1.0, seed=seed).astype(np.float64)
    lo, hi = int(minval), int(maxval)
    if hi <= lo:
        raise ValueError(f"randint needs maxval > minval. Received: minval={minval}, maxval={maxval}")
    return np.minimum(lo + np.floor(u * (hi - lo)), hi - 1).astype(np.dtype(dtype))


def shuffle(x, axis=0, seed=None):
    """x with its slices along `axis` in a random order (eager)."""
    _eager_only("shuffle", x)
    x = np.asarray(x)
    order = np.argsort(uniform((x.shape[axis],), seed=seed), kind="stable")
    return np.take(x, order, axis=axis)


def categorical(logits, num_samples, dtype="int32", seed=None):
    """num_samples class ids per row of logits (batch, classes), drawn from softmax(logits) (eager:
    the Gumbel-max trick on uniform draws)."""
    _eager_only("categorical", logits)
    logits = np.asarray(logits, np.float64)
    if logits.ndim != 2:
        raise ValueError(f"categorical expects logits of shape (batch, classes). Received: {logits.shape}")
    u = uniform((logits.shape[0], int(num_samples), logits.shape[1]), seed=seed).astype(np.float64)
    gumbel = -np.log(-np.log(np.clip(u, 1e-12, 1 - 1e-12)))
    return np.argmax(logits[:, None, :] + gumbel, axis=-1).astype(np.dtype(dtype))
