"""keras.ops's core functions: shape, conversion, stop_gradient, cond, slice."""

import numpy as np

from bigcore.layers.base import KerasTensor, Weight, active_trace
from bigcore.layers.dims import Dim
from bigcore.ops.node import apply, is_symbolic, weight_tensor
from bigcore.ops.numpy import as_lengths


def shape(x):
    """The shape as a tuple. On a symbolic tensor the batch axis and lengths known only when the model
    runs show as None; inside a traced call() they are their Dims (layers/dims.py), which size
    arange, zeros, reshape ... as the length Keras's backend would give there."""
    if isinstance(x, KerasTensor):
        return tuple(x.full_dims) if active_trace() is not None else tuple(x.shape)
    if isinstance(x, Weight):
        return tuple(x.shape)
    return tuple(np.shape(x))


def is_tensor(x):
    return isinstance(x, (KerasTensor, np.ndarray))


def convert_to_tensor(x, dtype=None, sparse=None, ragged=None):
    """A KerasTensor stays one (cast when dtype is given); a Weight read while a call is traced becomes
    a tensor of the graph; anything else becomes a numpy array (float32 unless dtype says)."""
    if sparse or ragged:
        raise ValueError("convert_to_tensor: sparse and ragged tensors are not supported")
    if isinstance(x, KerasTensor):
        return x if dtype is None or dtype == x.dtype else _cast(x, dtype)
    if isinstance(x, Dim):  # a run-time length (ops.shape inside a traced call()) stays one
        return x
    lengths = as_lengths(x) if isinstance(x, (list, tuple)) else None
    if lengths is not None:
        return lengths
    if isinstance(x, Weight):
        if active_trace() is not None:
            return weight_tensor(x)
        x = x.value
    a = np.asarray(x)
    if dtype is not None:
        return a.astype(dtype)
    if a.dtype == np.float64:
        return a.astype(np.float32)
    if a.dtype == np.int64 and not isinstance(x, (np.ndarray, np.generic)) and _fits_int32(a):
        return a.astype(np.int32)  # Python ints are int32 in Keras; numpy's own int64 stays
    return a


def _fits_int32(a):
    return a.size == 0 or (a.min() >= np.iinfo(np.int32).min and a.max() <= np.iinfo(np.int32).max)


def convert_to_numpy(x):
    if isinstance(x, KerasTensor):
        raise TypeError("convert_to_numpy: a symbolic tensor has no value while the model is traced")
    if isinstance(x, Weight):
        return x.numpy()
    return np.asarray(x)


def _cast(x, dtype):
    return apply("cast", [x], {"dtype": dtype if isinstance(dtype, str) else str(np.dtype(dtype))})


def stop_gradient(variable):
    """variable's value, through which no gradient flows."""
    return apply("stop_gradient", [variable])


def cond(pred, true_fn, false_fn):
    """true_fn() if pred else false_fn(), for a Python (or NumPy) predicate; a symbolic predicate
    has no value while the model is traced (ops.where chooses values per element instead)."""
    if isinstance(pred, KerasTensor):
        raise TypeError("ops.cond got a symbolic predicate: a symbolic tensor has no value while the model is traced; "
                        "Python control flow on tensor values cannot be traced: use bigcore.ops.where (or ops.cond "
                        "on a Python value)")
    return true_fn() if bool(np.asarray(pred)) else false_fn()


def slice(inputs, start_indices, shape):  # noqa: A001  (Keras's name)
    """inputs[start:start + shape] per axis (static starts and sizes)."""
    starts = [int(s) for s in start_indices]
    sizes = [int(s) for s in shape]
    if len(starts) != len(sizes):
        raise ValueError("slice: start_indices and shape need one entry per axis")
    stops = [a + n if n >= 0 else None for a, n in zip(starts, sizes)]
    return apply("slice", [inputs], {"start": starts, "stop": stops, "step": [1] * len(starts)})


def dtype(x):
    if isinstance(x, KerasTensor):
        return x.dtype
    return str(np.asarray(x).dtype)


__all__ = ["cond", "convert_to_numpy", "convert_to_tensor", "dtype", "is_symbolic", "is_tensor", "shape", "slice",
           "stop_gradient"]
