"""keras.random (as `bigcore.random`): normal, uniform, truncated_normal, dropout, SeedGenerator;
on arrays only: randint, shuffle, categorical, gamma, beta, binomial.

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


def _float_dtype(name, dtype):
    if dtype not in (None, "float32", np.float32):
        raise ValueError(f"{name}: bigcore draws float32. Received: dtype={dtype!r}")


def _generator(seed):
    """A SeedGenerator for several draws: an int seed gives the same sequence each time (as Keras)."""
    if isinstance(seed, SeedGenerator):
        return seed
    _stream(seed)  # checks the seed
    return SeedGenerator(seed)


def _param(name, value, shape):
    a = np.asarray(value, np.float64)
    try:
        return np.broadcast_to(a, shape)
    except ValueError:
        raise ValueError(f"{name} must broadcast to the shape {shape}. Received: {name}.shape={a.shape}") from None


def _gamma64(shape, alpha, gen):
    """Gamma(alpha, 1) draws in float64: Marsaglia and Tsang's method on bigcore's normal and uniform
    streams (each rejection round takes the generator's next streams); alpha < 1 as
    Gamma(alpha + 1) * U ** (1 / alpha)."""
    alpha = np.array(alpha, np.float64)
    if np.any(~(alpha > 0)):
        raise ValueError(f"gamma: alpha must be positive. Received a minimum of {alpha.min()}")
    boost = alpha < 1
    d = np.where(boost, alpha + 1.0, alpha) - 1.0 / 3.0
    c = 1.0 / np.sqrt(9.0 * d)
    out = np.empty(shape, np.float64)
    todo = np.ones(shape, bool)
    while todo.any():
        n = int(todo.sum())
        x = normal((n,), seed=gen).astype(np.float64)
        u = uniform((n,), seed=gen).astype(np.float64)
        dd, cc = d[todo], c[todo]
        v = (1.0 + cc * x) ** 3
        with np.errstate(divide="ignore", invalid="ignore"):
            ok = (v > 0) & (np.log(u) < 0.5 * x * x + dd - dd * v + dd * np.log(np.where(v > 0, v, 1.0)))
        idx = np.flatnonzero(todo.reshape(-1))
        out.reshape(-1)[idx[ok]] = (dd * v)[ok]
        todo.reshape(-1)[idx[ok]] = False
    if boost.any():
        u = uniform(shape, seed=gen).astype(np.float64)
        with np.errstate(divide="ignore"):
            out = np.where(boost, out * u ** (1.0 / alpha), out)
    return out


def gamma(shape, alpha, dtype=None, seed=None):
    """Keras's random.gamma: Gamma(alpha, scale 1) draws of `shape`; alpha a number or an array that
    broadcasts to it (eager)."""
    _eager_only("gamma", shape, alpha)
    _float_dtype("gamma", dtype)
    shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(d) for d in shape)
    return _gamma64(shape, _param("alpha", alpha, shape), _generator(seed)).astype(np.float32)


def beta(shape, alpha, beta, dtype=None, seed=None):
    """Keras's random.beta: Beta(alpha, beta) draws, as X / (X + Y) of Gamma(alpha) and Gamma(beta) (eager)."""
    _eager_only("beta", shape, alpha, beta)
    _float_dtype("beta", dtype)
    shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(d) for d in shape)
    gen = _generator(seed)
    a = _param("alpha", alpha, shape)
    b = _param("beta", beta, shape)
    if np.any(~(a > 0)) or np.any(~(b > 0)):
        raise ValueError("beta: alpha and beta must be positive")
    x, y = _gamma64(shape, a, gen), _gamma64(shape, b, gen)
    return (x / (x + y)).astype(np.float32)


def binomial(shape, counts, probabilities, dtype=None, seed=None):
    """Keras's random.binomial: the number of successes in `counts` trials of probability
    `probabilities` (both broadcast to `shape`), as float32; exact, one uniform draw per trial (eager)."""
    _eager_only("binomial", shape, counts, probabilities)
    _float_dtype("binomial", dtype)
    shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(d) for d in shape)
    n = _param("counts", counts, shape)
    p = _param("probabilities", probabilities, shape)
    if np.any(n < 0) or np.any(n != np.floor(n)):
        raise ValueError("binomial: counts must be non-negative integers")
    if np.any(~((p >= 0) & (p <= 1))):
        raise ValueError("binomial: probabilities must lie in [0, 1]")
    gen = _generator(seed)
    out = np.zeros(shape, np.float64)
    n_max = int(n.max()) if n.size else 0
    chunk = max(1, (1 << 22) // max(1, out.size))
    for k0 in range(0, n_max, chunk):  # trial k of each element: a success where u < p and k < counts
        k = np.arange(k0, min(n_max, k0 + chunk)).reshape((-1,) + (1,) * len(shape))
        u = uniform((k.shape[0],) + shape, seed=gen).astype(np.float64)
        out += np.sum((u < p) & (k < n), axis=0)
    return out.astype(np.float32)
