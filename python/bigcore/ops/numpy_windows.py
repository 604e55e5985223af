"""More of keras.ops.numpy, composed from the primitives (eager on arrays, recorded on symbolic
tensors) or, for constants of a given size, from numpy: the window functions (bartlett, blackman,
hamming, hanning, kaiser), geomspace, array_split / hsplit / vsplit / dsplit, the complex parts of
real tensors (real, imag, conj, conjugate, isreal, angle), diagflat, vander, trapezoid."""

import math

import numpy as np

from bigcore.ops.core import convert_to_tensor, shape
from bigcore.ops.core import dtype as _dtype
from bigcore.ops.indexing import getitem
from bigcore.ops.numpy import (arange, cast, diag, divide, expand_dims, flip, less, moveaxis, multiply, ndim, ones_like,
                               power, reshape, split, subtract, sum, where, zeros_like)


def _window(name, x, fn):
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)):
        raise ValueError(f"{name}: the window length must be an int (a size known when the model is built). "
                         f"Received: x={x!r}")
    return convert_to_tensor(fn(int(x)).astype(np.float32))


def bartlett(x):
    return _window("bartlett", x, np.bartlett)


def blackman(x):
    return _window("blackman", x, np.blackman)


def hamming(x):
    return _window("hamming", x, np.hamming)


def hanning(x):
    return _window("hanning", x, np.hanning)


def kaiser(x, beta):
    return _window("kaiser", x, lambda n: np.kaiser(n, float(beta)))


def geomspace(start, stop, num=50, endpoint=True, dtype=None, axis=0):
    """Numbers spaced evenly on a log scale (numpy.geomspace), from array or number endpoints."""
    out = np.geomspace(np.asarray(start, np.float64), np.asarray(stop, np.float64), num=num, endpoint=endpoint,
                       axis=axis)
    return convert_to_tensor(out.astype(dtype or np.float32))


def _axis_size(x, axis, name):
    dims = shape(x)
    if not -len(dims) <= axis < len(dims):
        raise ValueError(f"{name}: axis {axis} is out of range for a tensor of rank {len(dims)}")
    n = dims[axis]
    if n is None:
        raise ValueError(f"{name}: the size of axis {axis} must be known when the model is built")
    return int(n)


def array_split(x, indices_or_sections, axis=0):
    """Keras's array_split: n sections of an axis n need not divide (the first size % n sections one
    longer); only a number of sections, as Keras takes."""
    if isinstance(indices_or_sections, bool) or not isinstance(indices_or_sections, (int, np.integer)):
        raise TypeError("Argument `indices_or_sections` must be of type `int`. Received: "
                        f"indices_or_sections={indices_or_sections}")
    n, size = int(indices_or_sections), _axis_size(x, axis, "array_split")
    if n <= 0:
        raise ValueError(f"array_split: the number of sections must be positive. Received: {n}")
    each, extra = divmod(size, n)
    bounds = np.cumsum([each + 1] * extra + [each] * (n - extra))[:-1]
    return split(x, [int(b) for b in bounds], axis=axis)


def vsplit(x, indices_or_sections):
    if ndim(x) < 2:
        raise ValueError("vsplit only works on tensors of 2 or more dimensions")
    return split(x, indices_or_sections, axis=0)


def hsplit(x, indices_or_sections):
    if ndim(x) < 1:
        raise ValueError("hsplit only works on tensors of 1 or more dimensions")
    return split(x, indices_or_sections, axis=1 if ndim(x) > 1 else 0)


def dsplit(x, indices_or_sections):
    if ndim(x) < 3:
        raise ValueError("dsplit only works on tensors of 3 or more dimensions")
    return split(x, indices_or_sections, axis=2)


def _real_only(name, x):
    kind = np.dtype(str(_dtype(x))).kind if str(_dtype(x)) != "bfloat16" else "f"
    if kind == "c":
        raise ValueError(f"{name}: complex tensors are not supported by bigcore")


def real(x):
    """The real part: x itself (bigcore's tensors are real)."""
    _real_only("real", x)
    return convert_to_tensor(x) if not hasattr(x, "shape") or isinstance(x, np.ndarray) else x


def imag(x):
    _real_only("imag", x)
    return zeros_like(x)


def conj(x):
    _real_only("conj", x)
    return real(x)


conjugate = conj


def isreal(x):
    _real_only("isreal", x)
    return cast(ones_like(x), "bool")


def angle(x):
    """The argument of each (real) value: pi for a negative one, else 0 (numpy.angle)."""
    _real_only("angle", x)
    x = cast(x, "float32")
    return where(less(x, 0.0), math.pi, zeros_like(x))


def diagflat(x, k=0):
    """A 2-D tensor with x flattened on its k-th diagonal."""
    return diag(reshape(x, (-1,)), k)


def vander(x, N=None, increasing=False):  # noqa: N803  (numpy's and Keras's name)
    """The Vandermonde matrix of a 1-D x: columns x^(N-1) .. x^0 (x^0 .. x^(N-1) when increasing)."""
    if ndim(x) != 1:
        raise ValueError(f"vander: x must be 1-D. Received: x of rank {ndim(x)}")
    n = _axis_size(x, 0, "vander") if N is None else int(N)
    if n < 0:
        raise ValueError(f"vander: N must be non-negative. Received: N={N}")
    powers = arange(n, dtype="float32")
    out = power(expand_dims(cast(x, "float32"), -1), powers)
    return out if increasing else flip(out, axis=-1)


def trapezoid(y, x=None, dx=1.0, axis=-1):
    """The integral of y along axis by the trapezoidal rule, over the sample points x (or spacing dx)."""
    size = _axis_size(y, axis, "trapezoid")
    y = moveaxis(cast(y, "float32"), axis, -1)
    if size < 2:
        return sum(zeros_like(y), axis=-1)
    lo, hi = getitem(y, (Ellipsis, slice(None, -1))), getitem(y, (Ellipsis, slice(1, None)))
    mid = divide(lo + hi, 2.0)
    if x is None:
        return multiply(sum(mid, axis=-1), float(dx))
    x = cast(x, "float32")
    if ndim(x) == 1:
        d = subtract(getitem(x, slice(1, None)), getitem(x, slice(None, -1)))
    else:
        x = moveaxis(x, axis, -1)
        d = subtract(getitem(x, (Ellipsis, slice(1, None))), getitem(x, (Ellipsis, slice(None, -1))))
    return sum(multiply(mid, d), axis=-1)
