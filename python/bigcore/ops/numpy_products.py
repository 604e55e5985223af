"""keras.ops.numpy's cross, kron and correlate, composed from the primitives (elementwise products,
reshapes and a constant gather): eager on arrays, recorded on symbolic tensors, with gradients."""

import numpy as np

from bigcore.ops.core import convert_to_tensor
from bigcore.ops.elementwise_math import _is_int
from bigcore.ops.indexing import getitem
from bigcore.ops.numpy import (_ndim, _shape, cast, moveaxis, multiply, pad, reshape, stack, subtract, sum, take,
                               zeros_like)


def _static(name, x):
    dims = _shape(x)
    if any(d is None for d in dims):
        raise ValueError(f"{name}: every axis needs a length known when the model is built (no batch axis). "
                         f"Received: shape {dims}")
    return [int(d) for d in dims]


def cross(x1, x2, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """The cross product of (arrays of) 2- or 3-vectors along axisa / axisb (axis overrides all
    three); a 2-vector has a zero third component, and two 2-vectors give the z-component only."""
    if axis is not None:
        axisa = axisb = axisc = axis
    a = moveaxis(convert_to_tensor(x1), axisa, -1)
    b = moveaxis(convert_to_tensor(x2), axisb, -1)
    na, nb = _shape(a)[-1], _shape(b)[-1]
    for name, n in (("x1", na), ("x2", nb)):
        if n not in (2, 3):
            raise ValueError(f"cross: `{name}`'s vectors must have 2 or 3 components. Received: {n}")
    a0, a1 = getitem(a, (Ellipsis, 0)), getitem(a, (Ellipsis, 1))
    b0, b1 = getitem(b, (Ellipsis, 0)), getitem(b, (Ellipsis, 1))
    z = subtract(multiply(a0, b1), multiply(a1, b0))
    if na == 2 and nb == 2:
        return z
    a2 = getitem(a, (Ellipsis, 2)) if na == 3 else zeros_like(a0)
    b2 = getitem(b, (Ellipsis, 2)) if nb == 3 else zeros_like(b0)
    x = subtract(multiply(a1, b2), multiply(a2, b1))
    y = subtract(multiply(a2, b0), multiply(a0, b2))
    z = z + zeros_like(x)  # the same (broadcast) shape as the other two components
    out = stack([x, y, z], axis=-1)
    nd = _ndim(out)
    return moveaxis(out, -1, axisc % nd) if axisc % nd != nd - 1 else out


def kron(x1, x2):
    """The Kronecker product: blocks x1[i, j, ...] * x2 (the ranks padded to match with leading 1s)."""
    x1, x2 = convert_to_tensor(x1), convert_to_tensor(x2)
    s1, s2 = _static("kron", x1), _static("kron", x2)
    nd = max(len(s1), len(s2))
    if nd == 0:
        return multiply(x1, x2)
    s1, s2 = [1] * (nd - len(s1)) + s1, [1] * (nd - len(s2)) + s2
    a = reshape(x1, [d for s in s1 for d in (s, 1)])   # (a0, 1, a1, 1, ...)
    b = reshape(x2, [d for s in s2 for d in (1, s)])   # (1, b0, 1, b1, ...)
    return reshape(multiply(a, b), [p * q for p, q in zip(s1, s2)])


def correlate(x1, x2, mode="valid"):
    """The cross-correlation of two 1-D tensors, c[k] = sum_n x1[n + k] * x2[n] (numpy.correlate,
    float32): `valid` (max(M, N) - min(M, N) + 1 values), `same` (max(M, N)) or `full` (M + N - 1)."""
    if mode not in ("valid", "same", "full"):
        raise ValueError(f"`mode` must be either `valid`, `same`, or `full`, but received: {mode}")
    x1, x2 = convert_to_tensor(x1), convert_to_tensor(x2)
    for name, x in (("x1", x1), ("x2", x2)):
        if _ndim(x) != 1:
            raise ValueError(f"`{name}` must be a 1-dimensional tensor, but received shape {_shape(x)}")
    m, n = _static("correlate", x1)[0], _static("correlate", x2)[0]
    x1 = cast(x1, "float32") if _is_int(x1) else x1
    x2 = cast(x2, "float32") if _is_int(x2) else x2
    full = m + n - 1
    padded = pad(x1, [(n - 1, n - 1)])
    windows = take(padded, (np.arange(full)[:, None] + np.arange(n)[None, :]).astype(np.int32), axis=0)  # (F, N)
    out = sum(multiply(windows, x2), axis=-1)
    length = {"valid": max(m, n) - min(m, n) + 1, "same": max(m, n), "full": full}[mode]
    # numpy centres the window; when x2 is the longer one it correlates (x2, x1) and reverses it, which
    # rounds the centre the other way
    start = (full - length) // 2 if m >= n else full - length - (full - length) // 2
    return getitem(out, slice(start, start + length)) if length != full else out
