"""keras.ops.numpy's counting, binning and NaN-aware order statistics: isin, digitize, unravel_index,
nanargmax / nanargmin, nanquantile / nanpercentile / nanmedian, corrcoef and argpartition are composed
from the primitives (eager on arrays, recorded on symbolic tensors); bincount and histogram, whose
lengths or edges come from the values, run on arrays only."""

import builtins
import warnings

import numpy as np

from bigcore.ops.core import convert_to_tensor
from bigcore.ops.core import dtype as _dtype
from bigcore.ops.elementwise_math import _is_int, _no_grad, isnan
from bigcore.ops.node import is_symbolic
from bigcore.ops.numpy import (_ndim, _shape, add, all, any, argmax, argmin, cast, clip, diagonal, divide, equal,
                               expand_dims, floor, floor_divide, less_equal, logical_not, matmul, maximum, mean,
                               minimum, mod, moveaxis, multiply, reshape, round, sqrt, squeeze, stack, subtract, sum,
                               take_along_axis, transpose, where)
from bigcore.ops.sorting import _batched, argsort, sort


def _is_bool(x):
    return str(_dtype(x)) == "bool"


def isin(x1, x2, assume_unique=False, invert=False):
    """Whether each entry of x1 is among x2's values (bool, x1's shape); invert negates it."""
    x1, x2 = convert_to_tensor(x1), convert_to_tensor(x2)
    if _is_bool(x1) or _is_bool(x2):  # bools compare as 0 / 1, as Keras's torch backend casts them
        x1, x2 = cast(x1, "int32"), cast(x2, "int32")
    hits = any(equal(expand_dims(x1, -1), reshape(x2, (-1,))), axis=-1)
    return logical_not(hits) if invert else hits


def digitize(x, bins):
    """The index of the bin of each entry: i with bins[i-1] <= x < bins[i] for increasing bins (int32;
    NaN goes past the last bin)."""
    x, bins = convert_to_tensor(x), convert_to_tensor(bins)
    if _ndim(bins) != 1:
        raise ValueError(f"digitize: bins must be 1-D. Received: bins of rank {_ndim(bins)}")
    if not is_symbolic([bins]) and np.any(np.diff(np.asarray(bins).astype(np.float64)) < 0):
        raise ValueError(f"digitize: bins must be monotonically increasing (as Keras requires). Received: "
                         f"bins={np.asarray(bins).tolist()}")
    if _is_bool(x):
        x = cast(x, "int32")
    count = sum(cast(less_equal(bins, expand_dims(x, -1)), "int32"), axis=-1)
    if _is_int(x):
        return count
    return where(isnan(x), int(_shape(bins)[0]), count)


def _eager_only(name, args):
    if is_symbolic(args):
        raise ValueError(f"{name}: its result's length depends on the values, so it runs on arrays only, not on "
                         "symbolic tensors (a model's inputs or a traced call())")


def bincount(x, weights=None, minlength=0, sparse=False):
    """How often each non-negative integer occurs in x (1-D, or each row of a 2-D x), weighted by
    weights when given; at least minlength bins."""
    if sparse:
        raise ValueError("bincount: sparse=True needs a backend with sparse tensors; bigcore has none")
    _eager_only("bincount", [x, weights])
    a = np.asarray(convert_to_tensor(x))
    if a.dtype.kind not in "iub":
        raise TypeError(f"bincount expects integers. Received: dtype={a.dtype}")
    if a.ndim not in (1, 2):
        raise ValueError(f"bincount: x must be 1-D or 2-D. Received: rank {a.ndim}")
    if a.size and a.min() < 0:
        raise ValueError("bincount: x must hold non-negative integers")
    length = builtins.max(int(minlength), int(a.max()) + 1 if a.size else 0)
    if weights is None:
        w, out_dtype = np.ones(a.shape, np.int64), np.int32
    else:
        w = np.asarray(convert_to_tensor(weights))
        out_dtype = np.result_type(w.dtype, np.float32) if w.dtype.kind == "f" else np.int32
    rows = [np.bincount(r, wr, minlength=length) for r, wr in zip(a.reshape(-1, a.shape[-1]), w.reshape(a.shape)
                                                                   .reshape(-1, a.shape[-1]))]
    out = np.stack(rows) if a.ndim == 2 else rows[0]
    return out.astype(out_dtype)


def histogram(x, bins=10, range=None):  # noqa: A002  (Keras's name)
    """The counts of a 1-D x in `bins` equal bins over range (x's min and max by default), and the
    bins + 1 edges (both float32, as Keras's torch backend)."""
    if not isinstance(bins, int) or isinstance(bins, bool):
        raise TypeError(f"Argument `bins` must be of type `int`. Received: bins={bins}")
    if bins < 0:
        raise ValueError(f"Argument `bins` should be a non-negative integer. Received: bins={bins}")
    if range:
        if not isinstance(range, tuple) or len(range) < 2:
            raise ValueError(f"Argument `range` must be a tuple of two elements. Received: range={range}")
        if range[1] < range[0]:
            raise ValueError(f"The second element of `range` must be greater than the first. Received: range={range}")
    _eager_only("histogram", [x])
    a = np.asarray(convert_to_tensor(x))
    if a.ndim > 1:
        raise ValueError(f"Input tensor must be 1-dimensional. Received: input.shape={a.shape}")
    a = a.astype(np.float32)
    counts, edges = np.histogram(a, bins=bins, range=None if not range else (float(range[0]), float(range[1])))
    return counts.astype(np.float32), edges.astype(np.float32)


def unravel_index(indices, shape):
    """The coordinates of flat indices in an array of `shape`: a tuple of one int tensor per axis."""
    dims = [int(d) for d in shape]
    idx = convert_to_tensor(indices)
    if not _is_int(idx):
        raise TypeError(f"unravel_index expects integer indices. Received: dtype={_dtype(idx)}")
    out = []
    for d in reversed(dims):
        out.append(mod(idx, d))
        idx = floor_divide(idx, d)
    return tuple(reversed(out))


def argpartition(x, kth, axis=-1):
    """Indices that put each kth entry (along axis) where sorting would, smaller ones before it and
    larger after (int32). A traced call uses the full sorting permutation, which is one such order."""
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    n = _shape(x)[axis]
    kths = np.atleast_1d(np.asarray(kth))
    if kths.dtype.kind not in "iu":
        raise TypeError(f"argpartition: kth must be an int or ints. Received: kth={kth!r}")
    if n is not None and (np.any(kths >= n) or np.any(kths < -n)):
        raise ValueError(f"argpartition: kth {kth!r} is out of bounds for an axis of length {n}")
    if not is_symbolic([x]):
        return np.argpartition(np.asarray(convert_to_tensor(x)), kth, axis=axis).astype(np.int32)
    return argsort(x, axis=axis)


def _nan_arg(name, pick, fill, x, axis, keepdims):
    if axis is not None and not isinstance(axis, (int, np.integer)):
        raise ValueError(f"{name}: axis must be None or an int. Received: axis={axis!r}")
    x = convert_to_tensor(x)
    if _is_int(x):
        return pick(x, axis=axis, keepdims=keepdims)
    nan = isnan(x)
    out = pick(where(nan, fill, x), axis=axis, keepdims=keepdims)
    return where(all(nan, axis=axis, keepdims=keepdims), -1, out)


def nanargmax(x, axis=None, keepdims=False):
    """The index of the largest non-NaN value (int32); -1 where every value is NaN."""
    return _nan_arg("nanargmax", argmax, float("-inf"), x, axis, keepdims)


def nanargmin(x, axis=None, keepdims=False):
    """The index of the smallest non-NaN value (int32); -1 where every value is NaN."""
    return _nan_arg("nanargmin", argmin, float("inf"), x, axis, keepdims)


_METHODS = ("linear", "lower", "higher", "midpoint", "nearest")


def _nanquantile_traced(x, qs, axis, method, keepdims):
    nd = _ndim(x)
    if isinstance(axis, (list, tuple)):
        if len(axis) != 1:
            raise ValueError("nanquantile: over several axes is supported eagerly only; reshape them into one")
        axis = axis[0]
    if axis is None:
        if _batched(x):
            raise ValueError("nanquantile: axis=None reduces the batch axis; give an axis")
        x, ax = reshape(x, (-1,)), 0
    else:
        ax = axis % nd
    if qs.ndim and _batched(x):
        raise ValueError("nanquantile: a vector q puts the quantiles' axis first, before the batch axis, which a "
                         "model keeps first; call it once per q")
    x = cast(x, "float32") if _is_int(x) else x
    last = moveaxis(x, ax, -1) if ax != _ndim(x) - 1 else x
    n = _shape(last)[-1]
    s = sort(last, axis=-1)  # NaNs last
    # the count of non-NaN values per row sets the positions (values only: no gradient through them)
    valid = _no_grad(sum(cast(logical_not(isnan(last)), "float32"), axis=-1, keepdims=True))
    outs = []
    for qv in qs.reshape(-1):
        pos = multiply(subtract(valid, 1.0), float(qv))
        lo, hi = floor(pos), minimum(floor(pos) + 1.0, maximum(subtract(valid, 1.0), 0.0))
        if method == "lower":
            picks = [lo]
        elif method == "higher":
            picks = [where(equal(pos, lo), lo, hi)]
        elif method == "nearest":
            picks = [round(pos)]
        else:
            picks = [lo, hi]
        vals = [take_along_axis(s, cast(clip(p, 0.0, float(n - 1)), "int32"), -1) for p in picks]
        if method == "midpoint":
            v = multiply(add(vals[0], vals[1]), 0.5)
            v = where(equal(pos, lo), vals[0], v)
        elif method == "linear":
            v = add(vals[0], multiply(subtract(vals[1], vals[0]), subtract(pos, lo)))
        else:
            v = vals[0]
        v = where(equal(valid, 0.0), float("nan"), v)  # an all-NaN row
        if axis is None:
            v = reshape(v, (1,) * nd if keepdims else ())
        else:
            v = moveaxis(v, -1, ax) if keepdims else squeeze(v, -1)
        outs.append(v)
    return stack(outs, 0) if qs.ndim else outs[0]


def nanquantile(x, q, axis=None, method="linear", keepdims=False):
    """The q-th quantiles (q in [0, 1]; a 1-D q gives its axis first) of the non-NaN values over axis
    (NaN where there are none), float32."""
    if method not in _METHODS:
        raise ValueError(f"nanquantile: method must be one of {_METHODS}. Received: method={method!r}")
    if is_symbolic([q]):
        raise ValueError("nanquantile: q must be numbers (not a symbolic tensor)")
    qs = np.asarray(q, np.float64)
    if np.any(qs < 0) or np.any(qs > 1):
        raise ValueError(f"nanquantile: q must be in [0, 1]. Received: q={q!r}")
    if axis == () or axis == []:
        return convert_to_tensor(x)
    if not is_symbolic([x]):
        a = np.asarray(convert_to_tensor(x))
        a = a.astype(np.float32) if a.dtype != np.float64 else a
        ax = tuple(axis) if isinstance(axis, list) else axis
        with warnings.catch_warnings():  # an all-NaN slice is NaN, as documented, without numpy's warning
            warnings.simplefilter("ignore", RuntimeWarning)
            out = np.nanquantile(a, qs, axis=ax, method=method, keepdims=keepdims)
        return np.asarray(out).astype(np.float32)
    return _nanquantile_traced(x, qs, axis, method, keepdims)


def nanpercentile(x, q, axis=None, method="linear", keepdims=False):
    """nanquantile with q in percent."""
    if is_symbolic([q]):
        raise ValueError("nanpercentile: q must be numbers (not a symbolic tensor)")
    return nanquantile(x, np.asarray(q, np.float64) / 100.0, axis=axis, method=method, keepdims=keepdims)


def nanmedian(x, axis=None, keepdims=False):
    """The median of the non-NaN values over axis."""
    return nanquantile(x, 0.5, axis=axis, keepdims=keepdims)


def corrcoef(x):
    """Pearson correlation coefficients of x's rows (variables) over its columns (observations),
    clipped to [-1, 1]; a 1-D x is one variable (a 0-d result)."""
    x = convert_to_tensor(x)
    nd = _ndim(x)
    if nd not in (1, 2):
        raise ValueError(f"corrcoef: x must be 1-D or 2-D. Received: rank {nd}")
    x = cast(x, "float32") if _is_int(x) else x
    rows = reshape(x, (1, -1)) if nd == 1 else x
    centered = subtract(rows, mean(rows, axis=-1, keepdims=True))
    cov = matmul(centered, transpose(centered))
    d = sqrt(diagonal(cov))
    out = clip(divide(cov, multiply(expand_dims(d, -1), expand_dims(d, 0))), -1.0, 1.0)
    return reshape(out, ()) if nd == 1 else out
