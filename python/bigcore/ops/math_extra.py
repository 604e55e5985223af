"""keras.ops's cdist and erfinv (keras/src/ops/math.py), composed from the
primitives: eager on arrays, recorded on symbolic tensors, with gradients."""

import numpy as np

from bigcore.ops.core import convert_to_tensor
from bigcore.ops.elementwise_math import _is_int
from bigcore.ops.numpy import (_ndim, _shape, absolute, add, cast, equal, expand_dims, greater, less, log, multiply, sqrt,
                               square, subtract, sum, take, where)


def cdist(x, y):
    """Euclidean distances between the rows of x (..., m, d) and of y (..., n, d): (..., m, n), the
    leading axes broadcast."""
    x, y = convert_to_tensor(x), convert_to_tensor(y)
    if _ndim(x) < 2 or _ndim(y) < 2:
        raise ValueError(f"Inputs to `cdist` must have rank >= 2. Received shapes: x.shape={_shape(x)}, "
                         f"y.shape={_shape(y)}")
    dx, dy = _shape(x)[-1], _shape(y)[-1]
    if dx is not None and dy is not None and dx != dy:
        raise ValueError(f"The last dimension of inputs to `cdist` must match. Received shapes: x.shape={_shape(x)}, "
                         f"y.shape={_shape(y)}")
    diff = subtract(expand_dims(x, -2), expand_dims(y, -3))
    return sqrt(sum(square(diff), axis=-1))


# Giles' single-precision erfinv ("Approximating the erfinv function", GPU Computing Gems, 2011): a
# polynomial in w = -log(1 - x^2), one for w < 5 and one in sqrt(w) beyond
_CENTRAL = (2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087, -0.00125372503,
            -0.00417768164, 0.246640727, 1.50140941)
_TAIL = (-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613,
         0.00943887047, 1.00167406, 2.83297682)


def _horner(coefs, w):
    p = coefs[0]
    for c in coefs[1:]:
        p = add(multiply(p, w), c)
    return p


def erfinv(x):
    """The inverse error function: erf(erfinv(x)) = x on (-1, 1); +-inf at +-1, NaN beyond."""
    x = convert_to_tensor(x)
    x = cast(x, "float32") if _is_int(x) else x
    edge = equal(absolute(x), 1.0)
    xs = where(edge, 0.0, x)  # finite values (and gradients) at +-1, patched below
    w = -log(multiply(subtract(1.0, xs), add(1.0, xs)))
    central = less(w, 5.0)
    p_central = _horner(_CENTRAL, subtract(where(central, w, 2.5), 2.5))
    p_tail = _horner(_TAIL, subtract(sqrt(where(central, 9.0, w)), 3.0))
    out = multiply(where(central, p_central, p_tail), xs)
    # +-inf at +-1 as constants picked by sign (a gradient through x * inf would be NaN where not picked)
    return where(edge, where(greater(x, 0.0), float("inf"), float("-inf")), out)
