"""More of keras.ops.numpy / keras.ops.nn, composed from the primitives (eager on arrays, recorded
on symbolic tensors): array, get_item, empty_like, fabs, erfc, logaddexp2, select, multi_hot,
nansum, nanmean, nanmax, nanmin, nanprod, nanvar, nanstd, nancumsum, nancumprod, isposinf, isneginf,
fmax, fmin, batch_normalization, saturate_cast."""

import numpy as np

from bigcore.ops.core import convert_to_tensor
from bigcore.ops.core import dtype as _dtype
from bigcore.ops.elementwise_math import isnan, logaddexp
from bigcore.ops.indexing import getitem
from bigcore.ops.math import erf
from bigcore.ops.nn import one_hot
from bigcore.ops.numpy import (absolute, add, all, cast, clip, cumprod, cumsum, divide, equal, logical_not, max, maximum,
                               min, minimum, multiply, ndim, prod, reshape, sqrt, square, subtract, sum, where,
                               zeros_like)

_LN2 = float(np.log(2.0))


def array(x, dtype=None):
    """A tensor of x's values (keras.ops.array)."""
    return convert_to_tensor(x, dtype)


def get_item(x, key):
    return getitem(x, key)


def empty_like(x, dtype=None):
    """A tensor of x's shape (zeros: bigcore has no uninitialized memory to hand out)."""
    return zeros_like(x, dtype=dtype)


def fabs(x):
    return absolute(cast(x, "float32"))


def erfc(x):
    """1 - erf(x) (to float32 round-off, relative to 1)."""
    return subtract(1.0, erf(x))


def logaddexp2(x1, x2):
    """log2(2^x1 + 2^x2)."""
    return divide(logaddexp(multiply(x1, _LN2), multiply(x2, _LN2)), _LN2)


def select(condlist, choicelist, default=0):
    """The choice of the first true condition per element, else default (numpy.select)."""
    if len(condlist) != len(choicelist):
        raise ValueError(f"select: condlist and choicelist need the same length, got {len(condlist)} and "
                         f"{len(choicelist)}")
    if not condlist:
        raise ValueError("select: condlist must not be empty")
    out = default
    for cond, choice in zip(reversed(condlist), reversed(choicelist)):
        out = where(cond, choice, out)
    return out


def multi_hot(inputs, num_classes=None, axis=-1, dtype=None, sparse=False, **kwargs):
    """1 at each class an input row holds (keras.ops.multi_hot: one_hot, then the max over the ids)."""
    if sparse:
        raise ValueError("multi_hot: sparse=True needs TensorFlow's sparse tensors")
    num_classes = kwargs.pop("num_tokens", num_classes)  # Keras's older keyword
    if kwargs:
        raise TypeError(f"multi_hot got unexpected keyword arguments {sorted(kwargs)}")
    if num_classes is None:
        raise ValueError("multi_hot needs num_classes")
    rank = ndim(inputs)
    hot = one_hot(inputs, num_classes, axis=axis, dtype=dtype)
    if rank <= 1:
        return max(hot, axis=0)
    return max(hot, axis=-2 if axis == -1 else (axis - 1 if axis > 0 else axis))


def nansum(x, axis=None, keepdims=False):
    """The sum with NaNs counted as zero."""
    return sum(where(isnan(x), 0.0, x), axis=axis, keepdims=keepdims)


def nanmean(x, axis=None, keepdims=False):
    """The mean of the non-NaN values (NaN where there are none)."""
    present = cast(logical_not(isnan(x)), "float32")
    return divide(nansum(x, axis=axis, keepdims=keepdims), sum(present, axis=axis, keepdims=keepdims))


def _is_float(x):
    return np.dtype(str(_dtype(x))).kind == "f"


def _nan_filled(x, value):
    """x with its NaNs replaced by value (numpy's nan* functions: a NaN counts as the operation's
    identity); integer x has none."""
    return where(isnan(x), value, x) if _is_float(x) else x


def _nan_where_all(x, out, axis, keepdims):
    """NaN where every value along axis is NaN (numpy's nanmax / nanmin of an all-NaN slice)."""
    return where(all(isnan(x), axis=axis, keepdims=keepdims), float("nan"), out) if _is_float(x) else out


def nanmax(x, axis=None, keepdims=False):
    """The largest non-NaN value (NaN where there are none)."""
    x = convert_to_tensor(x)
    return _nan_where_all(x, max(_nan_filled(x, float("-inf")), axis=axis, keepdims=keepdims), axis, keepdims)


def nanmin(x, axis=None, keepdims=False):
    """The smallest non-NaN value (NaN where there are none)."""
    x = convert_to_tensor(x)
    return _nan_where_all(x, min(_nan_filled(x, float("inf")), axis=axis, keepdims=keepdims), axis, keepdims)


def nanprod(x, axis=None, keepdims=False):
    """The product with NaNs counted as one."""
    return prod(_nan_filled(convert_to_tensor(x), 1.0), axis=axis, keepdims=keepdims)


def nanvar(x, axis=None, keepdims=False):
    """The variance of the non-NaN values (NaN where there are none)."""
    x = convert_to_tensor(x)
    if not _is_float(x):
        x = cast(x, "float32")
    mean = nanmean(x, axis=axis, keepdims=True)
    return nanmean(square(subtract(x, mean)), axis=axis, keepdims=keepdims)


def nanstd(x, axis=None, keepdims=False):
    return sqrt(nanvar(x, axis=axis, keepdims=keepdims))


def nancumsum(x, axis=None, dtype=None):
    """The running sum with NaNs counted as zero."""
    return cumsum(_nan_filled(convert_to_tensor(x), 0.0), axis=axis, dtype=dtype)


def nancumprod(x, axis=None, dtype=None):
    """The running product with NaNs counted as one."""
    return cumprod(_nan_filled(convert_to_tensor(x), 1.0), axis=axis, dtype=dtype)


def isposinf(x):
    return equal(x, float("inf"))


def isneginf(x):
    return equal(x, float("-inf"))


def fmax(x1, x2):
    """The larger, ignoring a NaN in one of the two (numpy.fmax)."""
    return where(isnan(x1), x2, where(isnan(x2), x1, maximum(x1, x2)))


def fmin(x1, x2):
    """The smaller, ignoring a NaN in one of the two (numpy.fmin)."""
    return where(isnan(x1), x2, where(isnan(x2), x1, minimum(x1, x2)))


def batch_normalization(x, mean, variance, axis, offset=None, scale=None, epsilon=1e-3):
    """(x - mean) / sqrt(variance + epsilon) * scale + offset, the statistics along `axis`."""
    rank = ndim(x)
    axis = axis % rank
    shape = [1] * rank
    shape[axis] = -1

    def along(v):
        return v if axis == rank - 1 else reshape(v, tuple(shape[1:]) if axis else tuple(shape))

    out = multiply(subtract(x, along(mean)), divide(1.0, sqrt(add(along(variance), float(epsilon)))))
    if scale is not None:
        out = multiply(out, along(scale))
    if offset is not None:
        out = add(out, along(offset))
    return out


def saturate_cast(x, dtype):
    """x cast to dtype, clipped to its range first (no wrap-around)."""
    name = str(np.dtype(dtype))
    if name.startswith(("int", "uint")):
        info = np.iinfo(name)
        x = clip(x, float(info.min), float(info.max))
    return cast(x, name)


__all__ = ["array", "batch_normalization", "empty_like", "erfc", "fabs", "fmax", "fmin", "get_item", "isneginf",
           "isposinf", "logaddexp2", "multi_hot", "nanmean", "nansum", "saturate_cast", "select"]
