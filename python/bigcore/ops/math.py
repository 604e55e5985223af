"""keras.ops's math functions on the primitives: logsumexp, erf, rsqrt, top_k, in_top_k."""

import numpy as np

from bigcore.ops import numpy as _np_ops
from bigcore.ops import sorting as _sorting
from bigcore.ops.node import apply, is_symbolic


def logsumexp(x, axis=None, keepdims=False):
    axis = axis if axis is None or isinstance(axis, int) else [int(a) for a in axis]
    return apply("logsumexp", [x], {"axis": axis, "keepdims": bool(keepdims)})


def erf(x):
    return apply("erf", [x])


def rsqrt(x):
    return apply("rsqrt", [x])


def top_k(x, k, sorted=True):  # noqa: A002  (Keras's name)
    """The k largest entries along the last axis and their indices (int32), largest first (ties: the
    lower index first); the values carry gradients, the indices none. sorted=False gives them sorted
    too (any order is allowed there)."""
    k = int(k)
    n = _np_ops.shape_of(x)[-1]
    if n is not None and not 0 <= k <= n:
        raise ValueError(f"top_k: k must be in [0, {n}]. Received: k={k}")
    if not is_symbolic([x]):
        a = np.asarray(x)
        a = a.astype(np.float32) if a.dtype == np.float64 else a
        if a.dtype.kind == "f":  # NaN first (the largest, as torch's topk), then descending, stable
            nan = np.isnan(a)
            idx = np.lexsort((np.where(nan, 0.0, -a), ~nan), axis=-1)[..., :k]
        else:
            idx = np.argsort(-a.astype(np.int64), axis=-1, kind="stable")[..., :k]
        return np.take_along_axis(a, idx, -1), idx.astype(np.int32)
    order = _sorting.descending_order(x, -1)
    idx = order[..., :k]
    return _np_ops.take_along_axis(x, idx, -1), idx


def in_top_k(targets, predictions, k):
    """Whether each row's target class is among its k largest predictions (ties with the k-th count
    as in, as Keras's torch backend): fewer than k predictions exceed the target's."""
    tv = _np_ops.take_along_axis(predictions, _np_ops.expand_dims(_np_ops.cast(targets, "int32"), -1), -1)
    above = _np_ops.sum(_np_ops.cast(_np_ops.greater(predictions, tv), "int32"), axis=-1)
    return _np_ops.less(above, int(k))
