"""keras.ops.numpy's i0 and ldexp (composed from the primitives, with gradients) and nextafter (on
arrays only: a float32 program has no way to step to the neighbouring float)."""

import numpy as np

from bigcore.ops.core import convert_to_tensor
from bigcore.ops.core import dtype as _dtype
from bigcore.ops.elementwise_math import _is_int
from bigcore.ops.node import is_symbolic
from bigcore.ops.numpy import (absolute, add, cast, divide, exp, floor_divide, less_equal, multiply, power, sqrt,
                               square, subtract, where)

# Abramowitz & Stegun 9.8.1 (|x| <= 3.75, in t = (x / 3.75)^2) and 9.8.2 (beyond, in t = 3.75 / |x|, of
# sqrt(|x|) exp(-|x|) I0(x)): relative errors below 1e-6
_SMALL = (1.0, 3.5156229, 3.0899424, 1.2067492, 0.2659732, 0.0360768, 0.0045813)
_LARGE = (0.39894228, 0.01328592, 0.00225319, -0.00157565, 0.00916281, -0.02057706, 0.02635537, -0.01647633,
          0.00392377)


def _poly(coefs, t):
    p = coefs[-1]
    for c in reversed(coefs[:-1]):
        p = add(multiply(p, t), c)
    return p


def i0(x):
    """The modified Bessel function of the first kind, order 0 (float32)."""
    x = convert_to_tensor(x)
    x = cast(x, "float32") if _is_int(x) else x
    ax = absolute(x)
    small = less_equal(ax, 3.75)
    near = _poly(_SMALL, square(divide(where(small, ax, 0.0), 3.75)))
    far_x = where(small, 3.75, ax)  # finite branches (and gradients) where the other one is picked
    # exp(|x|) / sqrt(|x|): in float32 it overflows past |x| = 88.7, where Keras's torch i0 does too
    far = divide(multiply(exp(far_x), _poly(_LARGE, divide(3.75, far_x))), sqrt(far_x))
    return where(small, near, far)


def ldexp(x1, x2):
    """x1 * 2 ** x2 for an integer x2 (float32)."""
    x1, x2 = convert_to_tensor(x1), convert_to_tensor(x2)
    if not _is_int(x2) or str(_dtype(x2)) == "bool":
        raise TypeError(f"ldexp exponent must be an integer type. Received: x2 dtype={_dtype(x2)}")
    x1 = cast(x1, "float32") if _is_int(x1) else x1
    # two halves of the exponent, so 2 ** x2 out of float32's range still scales a small or large x1 right
    half = floor_divide(x2, 2)
    rest = subtract(x2, half)
    return multiply(multiply(x1, power(2.0, cast(half, "float32"))), power(2.0, cast(rest, "float32")))


def nextafter(x1, x2):
    """The next float32 after x1 toward x2 (numpy.nextafter)."""
    if is_symbolic([x1, x2]):
        raise ValueError("nextafter: a float32 program cannot step to the neighbouring float, so nextafter runs on "
                         "arrays only, not on symbolic tensors (a model's inputs or a traced call())")
    a, b = np.asarray(convert_to_tensor(x1)), np.asarray(convert_to_tensor(x2))
    dt = np.float64 if np.float64 in (a.dtype, b.dtype) else np.float32
    return np.nextafter(a.astype(dt), b.astype(dt))
