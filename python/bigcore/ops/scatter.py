"""keras.ops scatter, scatter_update and slice_update, composed of the recorded primitives (at once on
arrays; on symbolic tensors inside a traced call, with their gradients to the values written and to
the tensor written into). Where the values go must be known when the call is traced: the indices
and start indices are Python ints or arrays, not tensors, so the positions become constants
(a membership matrix, a mask, padding) of the graph.

    scatter         zeros of `shape`, with the values at indices summed in (repeated indices add up,
                    as Keras on torch: index_put_ with accumulate)
    scatter_update  inputs with the updates written at indices (a repeated index: the last update)
    slice_update    inputs with `updates` written over the block that starts at start_indices
"""

import math

import numpy as np

from bigcore.layers.base import KerasTensor, Weight
from bigcore.ops import numpy as _np
from bigcore.ops.core import convert_to_tensor
from bigcore.ops.core import shape as _shape
from bigcore.ops.node import is_symbolic


def _known_ints(value, what, name):
    if isinstance(value, (KerasTensor, Weight)) or (isinstance(value, (list, tuple)) and is_symbolic(list(value))):
        raise ValueError(f"{what}: `{name}` must be known when the call is traced (Python ints or an array), not a "
                         "tensor: the positions written become constants of the program")
    out = np.asarray(value)
    if out.size and out.dtype.kind not in "iu":
        raise ValueError(f"{what}: `{name}` must be integers. Received dtype {out.dtype}")
    return out.astype(np.int64)


def _positions(indices, shape, what):
    """indices (..., k) into the leading k axes of `shape`: their flat positions (n,), checked in range."""
    idx = _known_ints(indices, what, "indices")
    if idx.ndim == 0 or idx.shape[-1] > len(shape) or idx.shape[-1] == 0:
        raise ValueError(f"{what}: indices must have shape (..., k) with 1 <= k <= rank {len(shape)}. Received "
                         f"shape {idx.shape}")
    k = idx.shape[-1]
    lead = tuple(shape[:k])
    if any(d is None for d in lead):
        raise ValueError(f"{what}: the axes the indices address must have known lengths. Received shape {shape}")
    flat = idx.reshape(-1, k)
    if flat.size and ((flat < 0).any() or (flat >= np.asarray(lead)).any()):
        raise IndexError(f"{what}: an index is out of range for the leading axes {lead}")
    return np.ravel_multi_index(flat.T, lead) if flat.size else np.zeros(0, np.int64), k


def _static_shape(x, what, name):
    shape = tuple(_shape(x))
    if any(not isinstance(d, (int, np.integer)) for d in shape):
        raise ValueError(f"{what}: `{name}` needs a shape known when the call is traced (no batch or run-time axis). "
                         f"Received shape {shape}")
    return tuple(int(d) for d in shape)


# A membership matrix (positions x indices) of more floats than this is refused in a traced call
# (it is a constant of the program): 64 MB.
_MAX_MEMBERS = 1 << 24


def scatter(indices, values, shape):
    what = "scatter"
    shape = tuple(int(s) for s in shape)
    pos, k = _positions(indices, shape, what)
    lead, rest = math.prod(shape[:k]), math.prod(shape[k:])
    values = convert_to_tensor(values)
    dtype = str(values.dtype)
    if not is_symbolic([values]):  # arrays: at once
        out = np.zeros((lead, rest), np.float64 if dtype.startswith("float") else np.int64)
        np.add.at(out, pos, np.asarray(values).reshape(len(pos), rest))
        return convert_to_tensor(out.reshape(shape).astype(dtype), dtype)
    vals = _np.reshape(values, (len(pos), rest))
    if len(np.unique(pos)) == len(pos):  # no repeats: a gather of the values (row 0: zeros)
        source = np.zeros(lead, np.int64)
        source[pos] = np.arange(1, len(pos) + 1)
        padded = _np.concatenate([_np.zeros((1, rest), dtype), vals], axis=0)
        return _np.reshape(_np.take(padded, source, axis=0), shape)
    if lead * len(pos) > _MAX_MEMBERS:
        raise ValueError(f"{what}: {len(pos)} indices with repeats into {lead} positions would need a {lead} x "
                         f"{len(pos)} constant in the program; give indices without repeats, or fewer")
    member = (np.arange(lead)[:, None] == pos[None, :]).astype(np.float32)  # (lead, n): repeats add up
    out = _np.reshape(_np.matmul(member, _np.cast(vals, "float32")), shape)
    return out if dtype == "float32" else _np.cast(out, dtype)  # (integer sums below 2^24 are exact)


def scatter_update(inputs, indices, updates):
    what = "scatter_update"
    x = convert_to_tensor(inputs)
    shape = _static_shape(x, what, "inputs")
    pos, k = _positions(indices, shape, what)
    lead, rest = math.prod(shape[:k]), math.prod(shape[k:])
    source = np.full(lead, -1, np.int64)
    source[pos] = np.arange(len(pos))  # the last update of a repeated position wins
    written = source >= 0
    taken = _np.take(_np.reshape(convert_to_tensor(updates), (len(pos), rest)), np.maximum(source, 0), axis=0)
    flat = _np.reshape(x, (lead, rest))
    return _np.reshape(_np.where(written[:, None], _np.cast(taken, flat.dtype), flat), shape)


def slice_update(inputs, start_indices, updates):
    what = "slice_update"
    x, u = convert_to_tensor(inputs), convert_to_tensor(updates)
    xs, us = tuple(_shape(x)), tuple(_shape(u))
    start = _known_ints(start_indices, what, "start_indices").reshape(-1)
    if len(start) != len(xs) or len(us) != len(xs):
        raise ValueError(f"{what}: start_indices and updates need one entry per axis of inputs (rank {len(xs)}). "
                         f"Received start_indices {start.tolist()}, updates shape {us}")
    pads, mask_shape, block = [], [], []
    for axis, (s, n, m) in enumerate(zip(start, xs, us)):
        if not isinstance(n, (int, np.integer)):  # the batch or a run-time length: written whole
            if s != 0 or m is not n:
                raise ValueError(f"{what}: axis {axis} has a run-time length, so updates must cover it whole from 0. "
                                 f"Received start {s}, updates length {m}")
            pads.append((0, 0))
            mask_shape.append(1)
            block.append(slice(None))
            continue
        if not isinstance(m, (int, np.integer)) or s < 0 or s + m > n:
            raise ValueError(f"{what}: the updates ({m} from {s}) do not fit axis {axis} of length {n}")
        pads.append((int(s), int(n - s - m)))
        mask_shape.append(int(n))
        block.append(slice(int(s), int(s + m)))
    mask = np.zeros(mask_shape, bool)
    mask[tuple(block)] = True
    return _np.where(mask, _np.cast(_np.pad(u, pads), x.dtype), x)
