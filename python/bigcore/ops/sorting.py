"""keras.ops.numpy's sorting and order statistics: sort, argsort, searchsorted, quantile, percentile,
median (eager: NumPy's stable sort; traced: ranks by pairwise comparisons, O(n^2) per row), and
nonzero / unique, whose shapes depend on the values (eager only)."""

import numpy as np

from bigcore.layers.base import KerasTensor, Weight
from bigcore.layers.dims import BATCH, Dim
from bigcore.ops.elementwise_math import _is_int, _no_grad, isnan
from bigcore.ops.node import is_symbolic
from bigcore.ops.numpy import (_full_shape, _ndim, _shape, add, cast, equal, expand_dims, greater, less, less_equal,
                               logical_and, logical_not, logical_or, moveaxis, multiply, reshape, size, squeeze,
                               stack, subtract, sum, take, take_along_axis)


def _batched(x):
    return isinstance(x, KerasTensor) and bool(x.full_dims) and x.full_dims[0] is BATCH


def _sort_axis_ok(x, axis, kind):
    s = _full_shape(x)
    nd = len(s)
    ax = axis % nd
    if _batched(x) and ax == 0:
        raise ValueError(f"{kind}: sorting along the batch axis is not supported in a model")
    if isinstance(s[ax], Dim):
        raise ValueError(f"{kind}: the sorted axis needs a static length in a model (it has a run-time one)")
    return ax


def _order(x, axis, descending):
    """The stable sorting permutation along `axis` (int32), from ranks: rank_i = #{j: x_j before x_i}.
    NaN counts as the largest value (last ascending, as NumPy; first descending, as torch's topk)."""
    ax = _sort_axis_ok(x, axis, "sort")
    x = _no_grad(x)  # the permutation has no gradient (the sorted values get theirs through take_along_axis)
    nd = _ndim(x)
    x = moveaxis(x, ax, -1) if ax != nd - 1 else x
    n = _shape(x)[-1]
    xi, xj = expand_dims(x, -1), expand_dims(x, -2)            # (..., i, 1), (..., 1, j)
    ahead = greater(xj, xi) if descending else less(xj, xi)
    same = equal(xj, xi)
    if not _is_int(x):
        nj, ni = isnan(xj), isnan(xi)
        ahead = logical_or(ahead, logical_and(nj, logical_not(ni)) if descending else
                           logical_and(ni, logical_not(nj)))
        same = logical_or(same, logical_and(nj, ni))
    earlier = np.tril(np.ones((n, n), bool), -1)              # [i, j]: j < i
    before = logical_or(ahead, logical_and(same, earlier))
    rank = sum(cast(before, "int32"), axis=-1)                 # (..., i)
    at = equal(expand_dims(rank, -2), np.arange(n, dtype=np.int32).reshape(n, 1))  # (..., r, i)
    perm = sum(multiply(cast(at, "int32"), np.arange(n, dtype=np.int32)), axis=-1)  # (..., r)
    return moveaxis(perm, -1, ax) if ax != nd - 1 else perm


def descending_order(x, axis=-1):
    """The stable permutation sorting x descending along axis (a traced top_k's indices)."""
    return _order(x, axis, descending=True)


def argsort(x, axis=-1):
    """The indices that sort x ascending along axis (stable; int32; axis None: of the flattened x)."""
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    if not is_symbolic([x]):
        return np.argsort(_arr(x), axis=axis, kind="stable").astype(np.int32)
    return _order(x, axis, descending=False)


def sort(x, axis=-1):
    """x sorted ascending along axis (gradients flow to the entries where they land)."""
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    if not is_symbolic([x]):
        return np.sort(_arr(x), axis=axis, kind="stable")
    return take_along_axis(x, _order(x, axis, descending=False), axis)


def searchsorted(sorted_sequence, values, side="left"):
    """Insertion indices of values into the 1-D ascending sorted_sequence (int32)."""
    if side not in ("left", "right"):
        raise ValueError(f"searchsorted: side must be 'left' or 'right'. Received: {side!r}")
    if _ndim(sorted_sequence) != 1:
        raise ValueError("searchsorted: only 1-D sorted sequences are supported. Received: rank "
                         f"{_ndim(sorted_sequence)}")
    if not is_symbolic([sorted_sequence, values]):
        return np.searchsorted(_arr(sorted_sequence), _arr(values), side=side).astype(np.int32)
    v = expand_dims(values, -1)
    below = less(sorted_sequence, v) if side == "left" else less_equal(sorted_sequence, v)
    return sum(cast(below, "int32"), axis=-1)


def _quantile_eager(x, q, axis, method, keepdims):
    a = _arr(x)
    dt = np.float32 if a.dtype != np.float64 else np.float64
    return np.asarray(np.quantile(a.astype(dt), np.asarray(q, np.float64), axis=axis, method=method,
                                  keepdims=keepdims)).astype(np.float32)


def _quantile_traced(x, q, axis, method, keepdims):
    qs = np.asarray(q, np.float64)
    if isinstance(axis, (list, tuple)):
        if len(axis) != 1:
            raise ValueError("quantile: over several axes is supported eagerly only; reshape them into one")
        axis = axis[0]
    nd = _ndim(x)
    if axis is None:
        if _batched(x):
            raise ValueError("quantile: axis=None reduces the batch axis; give an axis")
        src_shape, x, ax = _shape(x), reshape(x, (-1,)), 0
    else:
        ax, src_shape = axis % nd, None
    if qs.ndim and _batched(x):
        raise ValueError("quantile: a vector q puts the quantiles' axis first, before the batch axis, which a model "
                         "keeps first; call it once per q")
    x = cast(x, "float32") if _is_int(x) else x
    s = sort(x, axis=ax)
    n = _shape(s)[ax]
    outs = []
    for qv in qs.reshape(-1):
        pos = qv * (n - 1)
        lo, hi = int(np.floor(pos)), int(np.ceil(pos))
        frac = pos - lo
        if method == "lower" or (method == "linear" and frac == 0):
            idx = [lo]
        elif method == "higher":
            idx = [hi]
        elif method == "nearest":
            idx = [int(np.round(pos))]  # NumPy's: half to even
        else:
            idx = [lo, hi]
        parts = [take(s, np.array([i], np.int32), axis=ax) for i in idx]
        if len(parts) == 1:
            v = parts[0]
        elif method == "midpoint":
            v = multiply(add(parts[0], parts[1]), 0.5)
        else:
            v = add(parts[0], multiply(subtract(parts[1], parts[0]), float(frac)))
        if keepdims:
            v = reshape(v, (1,) * len(src_shape)) if src_shape is not None else v
        else:
            v = squeeze(v, ax)
        outs.append(v)
    return stack(outs, 0) if qs.ndim else outs[0]


def quantile(x, q, axis=None, method="linear", keepdims=False):
    """The q-th quantiles (q in [0, 1]; a 1-D q gives its axis first) over axis, float32."""
    if method not in ("linear", "lower", "higher", "midpoint", "nearest"):
        raise ValueError(f"quantile: unknown method {method!r}")
    if is_symbolic([q]):
        raise ValueError("quantile: q must be numbers (not a symbolic tensor)")
    if np.any(np.asarray(q) < 0) or np.any(np.asarray(q) > 1):
        raise ValueError(f"quantile: q must be in [0, 1]. Received: q={q!r}")
    if not is_symbolic([x]):
        return _quantile_eager(x, q, axis, method, keepdims)
    return _quantile_traced(x, q, axis, method, keepdims)


def percentile(x, q, axis=None, method="linear", keepdims=False):
    """quantile with q in percent."""
    return quantile(x, np.asarray(q, np.float64) / 100.0, axis=axis, method=method, keepdims=keepdims)


def median(x, axis=None, keepdims=False):
    return quantile(x, 0.5, axis=axis, keepdims=keepdims)


# -- value-dependent shapes: eager only --


def _eager_only(kind, args):
    if is_symbolic(args):
        raise ValueError(f"{kind}: its result's shape depends on the values, so it cannot be traced into a model "
                         "(it runs on arrays only)")


def nonzero(x):
    """The indices of the non-zero entries, one int32 vector per axis (NumPy's tuple)."""
    _eager_only("nonzero", [x])
    return tuple(i.astype(np.int32) for i in np.nonzero(_arr(x)))


def unique(x, sorted=True, return_index=False, return_inverse=False, return_counts=False,  # noqa: A002
           axis=None, size=None, fill_value=None):
    """The sorted unique values (and NumPy's index, inverse and counts on request); size pads or
    truncates them to a fixed length with fill_value (the smallest value by default)."""
    _eager_only("unique", [x])
    a = _arr(x)
    res = np.unique(a, return_index=return_index, return_inverse=return_inverse, return_counts=return_counts,
                    axis=axis)
    res = list(res) if isinstance(res, tuple) else [res]
    vals = res[0]
    if size is not None:
        n = vals.shape[0 if axis is None else axis]
        fill = (vals.min() if vals.size else 0) if fill_value is None else fill_value
        if n < size:
            pad_shape = list(vals.shape)
            pad_shape[0 if axis is None else axis] = size - n
            vals = np.concatenate([vals, np.full(pad_shape, fill, vals.dtype)], 0 if axis is None else axis)
            if return_counts:
                res[-1] = np.concatenate([res[-1], np.zeros(size - n, res[-1].dtype)])
            if return_index:
                res[1] = np.concatenate([res[1], np.zeros(size - n, res[1].dtype)])
        else:
            vals = np.take(vals, np.arange(size), axis=0 if axis is None else axis)
            if return_counts:
                res[-1] = res[-1][:size]
            if return_index:
                res[1] = res[1][:size]
    res[0] = vals.astype(np.float32) if vals.dtype == np.float64 else vals
    res[1:] = [r.astype(np.int32) for r in res[1:]]
    return res[0] if len(res) == 1 else tuple(res)



def _arr(x):
    if isinstance(x, Weight):
        return x.value
    a = np.asarray(x)
    return a.astype(np.float32) if a.dtype == np.float64 else a

