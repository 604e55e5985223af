"""keras.ops segment_sum / segment_max / segment_min / segment_prod: data (N, ...) reduced into
num_segments rows by segment_ids (N,), as Keras on torch defines them: ids outside [0,
num_segments) are dropped, and an empty segment is 0 (sum), -inf (max), +inf (min) or 1 (prod).

Composed from the primitives, with their gradients: the membership matrix M[s, n] = (ids[n] == s)
(a comparison with arange, so out-of-range ids match no segment); a sum is M @ data, the others a
reduction over n of data where M holds and the reduction's identity elsewhere. On arrays they run
at once; on symbolic tensors they record nodes (num_segments must then be given, as the values
that would set it are not known)."""

from bigcore.ops import numpy as _np
from bigcore.ops.core import shape as _shape
from bigcore.ops.node import is_symbolic as _is_symbolic


def _members(segment_ids, num_segments, what):
    if _is_symbolic([segment_ids]) and num_segments is None:
        raise ValueError(f"{what}: num_segments must be given for symbolic segment_ids (their values are not known "
                         "when the model is built)")
    ids = _np.cast(segment_ids, "int32")
    if len(_shape(ids)) != 1:
        raise ValueError(f"{what}: segment_ids must be a vector. Received: shape={tuple(_shape(ids))}")
    if num_segments is None:
        num_segments = int(_np.max(ids)) + 1 if _shape(ids)[0] else 0
    if isinstance(num_segments, bool) or not isinstance(num_segments, int) or num_segments < 0:
        raise ValueError(f"{what}: num_segments must be a non-negative int. Received: num_segments={num_segments!r}")
    return ids, num_segments


def _check(data, ids, what):
    n_data, n_ids = _shape(data)[0] if len(_shape(data)) else None, _shape(ids)[0]
    if n_data is None or (isinstance(n_data, int) and isinstance(n_ids, int) and n_data != n_ids):
        raise ValueError(f"{what}: data's first axis must match segment_ids. Received: data.shape="
                         f"{tuple(_shape(data))}, segment_ids.shape={tuple(_shape(ids))}")


def segment_sum(data, segment_ids, num_segments=None, sorted=False):
    ids, S = _members(segment_ids, num_segments, "segment_sum")
    _check(data, ids, "segment_sum")
    rest = list(_shape(data))[1:]
    member = _np.cast(_np.equal(_np.expand_dims(_np.arange(S, dtype="int32"), 1), _np.expand_dims(ids, 0)), "float32")
    flat = _np.reshape(data, (_shape(data)[0], -1)) if rest != [] else _np.expand_dims(data, 1)
    return _np.reshape(_np.matmul(member, flat), [S] + rest)


def _masked_reduce(data, segment_ids, num_segments, what, fill, reduce):
    ids, S = _members(segment_ids, num_segments, what)
    _check(data, ids, what)
    rest = list(_shape(data))[1:]
    member = _np.equal(_np.expand_dims(_np.arange(S, dtype="int32"), 1), _np.expand_dims(ids, 0))  # (S, N)
    member = _np.reshape(member, [S, _shape(ids)[0]] + [1] * len(rest))
    values = _np.where(member, _np.expand_dims(data, 0), fill)  # (S, N, ...)
    return reduce(values, axis=1)


def segment_max(data, segment_ids, num_segments=None, sorted=False):
    return _masked_reduce(data, segment_ids, num_segments, "segment_max", float("-inf"), _np.max)


def segment_min(data, segment_ids, num_segments=None, sorted=False):
    return _masked_reduce(data, segment_ids, num_segments, "segment_min", float("inf"), _np.min)


def segment_prod(data, segment_ids, num_segments=None, sorted=False):
    return _masked_reduce(data, segment_ids, num_segments, "segment_prod", 1.0, _np.prod)
