"""keras.ops.numpy's further elementwise maths (isnan ... sinc), composed from numpy.py's primitives,
exact or to float32 round-off; eager on arrays, recorded on symbolic tensors as numpy.py's are."""

import numpy as np

from bigcore.layers.base import KerasTensor, Weight
from bigcore.ops.node import apply, is_symbolic
from bigcore.ops.numpy import (absolute, add, all, cast, ceil, copy, cos, divide, equal, exp, expm1, floor, greater,
                               less, less_equal, log, log1p, logical_and, logical_not, logical_or, maximum, minimum,
                               mod, multiply, negative, not_equal, power, reciprocal, sign, sin, sqrt, square,
                               subtract, where)


_PI = float(np.pi)
_LN2 = float(np.log(2.0))
_F32_MAX = float(np.finfo(np.float32).max)


def _is_int(x):
    from_ = x.dtype if isinstance(x, (KerasTensor, Weight)) else np.asarray(x).dtype
    return str(from_).startswith(("int", "uint", "bool"))


def _safe(cond, x, fill=1.0):
    """x where cond, fill elsewhere: keeps an unselected branch of a where finite (and its gradient)."""
    return where(cond, x, fill)


def _no_grad(x):
    """x as a value only: a symbolic x through stop_gradient (comparisons pass a zero gradient back, and
    zero times an infinite local derivative would be NaN)."""
    return apply("stop_gradient", [x]) if is_symbolic([x]) else x


def isnan(x):
    """NaN entries (bool; all False for integers)."""
    return not_equal(x, x)


def isinf(x):
    return equal(absolute(x), float("inf"))


def isfinite(x):
    """Neither NaN nor infinite (bool)."""
    return less(absolute(x), float("inf"))


def isclose(x1, x2, rtol=1e-5, atol=1e-8, equal_nan=False):
    """|x1 - x2| <= atol + rtol * |x2| (NumPy's and torch's test); infinities close only to themselves."""
    close = less_equal(absolute(subtract(x1, x2)), add(multiply(absolute(x2), float(rtol)), float(atol)))
    close = where(logical_and(isfinite(x1), isfinite(x2)), close, equal(x1, x2))
    if equal_nan:
        close = logical_or(close, logical_and(isnan(x1), isnan(x2)))
    return close


def allclose(x1, x2, rtol=1e-5, atol=1e-8, equal_nan=False):
    """Whether every entry isclose (a 0-d bool)."""
    return all(isclose(x1, x2, rtol=rtol, atol=atol, equal_nan=equal_nan))


def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    """NaN -> nan, +inf -> posinf (float32's largest by default), -inf -> neginf (its lowest)."""
    if _is_int(x):
        return copy(x)
    posinf = _F32_MAX if posinf is None else float(posinf)
    neginf = -_F32_MAX if neginf is None else float(neginf)
    x = where(equal(x, float("inf")), posinf, x)
    x = where(equal(x, float("-inf")), neginf, x)
    return where(isnan(x), float(nan), x)


def trunc(x):
    """Rounds toward zero (no gradient, as Keras's)."""
    if _is_int(x):
        return copy(x)
    return where(less(x, 0.0), ceil(x), floor(x))


def fmod(x1, x2):
    """C's fmod: the remainder of x1 / x2 with x1's sign (mod takes x2's)."""
    return multiply(mod(absolute(x1), absolute(x2)), sign(x1))


def hypot(x1, x2):
    """sqrt(x1^2 + x2^2) without overflow: max * sqrt(1 + (min / max)^2)."""
    a, b = absolute(x1), absolute(x2)
    hi, lo = maximum(a, b), minimum(a, b)
    zero = equal(hi, 0.0)
    r = divide(lo, _safe(logical_not(zero), hi))
    out = where(zero, 0.0, multiply(hi, sqrt(add(square(r), 1.0))))
    return where(logical_or(isinf(x1), isinf(x2)), float("inf"), out)  # inf even beside NaN, as NumPy


def logaddexp(x1, x2):
    """log(exp(x1) + exp(x2)) = max + log1p(exp(-|x1 - x2|))."""
    d = subtract(x1, x2)
    d = where(isnan(d), 0.0, d)  # both +inf or both -inf: the max alone
    return add(maximum(x1, x2), log1p(exp(negative(absolute(d)))))


def cbrt(x):
    """The real cube root: sign(x) |x|^(1/3), then one Newton step (1/3 is not a float32)."""
    y = multiply(sign(x), power(absolute(x), 1.0 / 3.0))
    done = logical_or(equal(y, 0.0), logical_not(isfinite(y)))
    ys = _safe(logical_not(done), y)
    return where(done, y, divide(add(multiply(ys, 2.0), divide(x, square(ys))), 3.0))


def exp2(x):
    return power(2.0, cast(x, "float32") if _is_int(x) else x)


def tan(x):
    return divide(sin(x), cos(x))


def _exp_halves(a):
    """(exp(a) / 2, exp(-a) / 2) for a >= 0 as (e / 2) e and (1 / 2e) / e, e = exp(a / 2): finite while
    exp(a) / 2 is."""
    e = exp(multiply(a, 0.5))
    return multiply(multiply(e, 0.5), e), divide(divide(0.5, e), e)


def sinh(x):
    a = absolute(x)
    small = less(a, 1.0)
    xs = _safe(small, x, 0.0)
    up, down = _exp_halves(a)
    return where(small, multiply(subtract(expm1(xs), expm1(negative(xs))), 0.5), multiply(sign(x), subtract(up, down)))


def cosh(x):
    up, down = _exp_halves(absolute(x))
    return add(up, down)


def arctan(x):
    """Cephes's atanf: range reduction to |t| <= tan(pi / 8) and an odd polynomial (float32 round-off)."""
    x = cast(x, "float32") if _is_int(x) else x
    a = absolute(x)
    s = sign(x)
    big = greater(a, 2.414213562373095)
    mid = logical_and(greater(a, 0.4142135623730950), logical_not(big))
    t_big = divide(-1.0, _safe(big, x))
    t_mid = multiply(divide(subtract(a, 1.0), add(a, 1.0)), s)
    t = where(big, t_big, where(mid, t_mid, x))
    y0 = multiply(s, where(big, _PI / 2, where(mid, _PI / 4, 0.0)))
    z = square(t)
    p = add(multiply(z, 8.05374449538e-2), -1.38776856032e-1)
    p = add(multiply(p, z), 1.99777106478e-1)
    p = add(multiply(p, z), -3.33329491539e-1)
    return add(y0, add(multiply(multiply(p, z), t), t))


def arctan2(x1, x2):
    """The angle of (x2, x1) in [-pi, pi]: arctan(x1 / x2) moved to x2's half-plane."""
    y, x = x1, x2
    zero = equal(x, 0.0)
    at = arctan(divide(y, _safe(logical_not(zero), x)))
    neg_y = signbit(y)
    turn = where(less(x, 0.0), where(neg_y, -_PI, _PI), 0.0)
    on_axis = where(equal(y, 0.0), 0.0, multiply(sign(y), _PI / 2))
    return where(zero, on_axis, add(at, turn))


def arcsin(x):
    c = sqrt(multiply(subtract(1.0, x), add(1.0, x)))
    return arctan2(x, c)


def arccos(x):
    c = sqrt(multiply(subtract(1.0, x), add(1.0, x)))
    return arctan2(c, x)


def arcsinh(x):
    a = absolute(x)
    small = less(a, 0.5)
    huge = greater(a, 1e4)
    xs = _safe(small, x, 0.0)
    near = log1p(add(xs, divide(square(xs), add(sqrt(add(square(xs), 1.0)), 1.0))))
    am = _safe(logical_not(huge), a)
    mid = log1p(add(am, divide(square(am), add(sqrt(add(square(am), 1.0)), 1.0))))
    far = add(log(_safe(huge, a)), _LN2)
    return where(small, near, multiply(sign(x), where(huge, far, mid)))


def arccosh(x):
    huge = greater(x, 1e4)
    t = subtract(_safe(logical_not(huge), x, 2.0), 1.0)
    near = log1p(add(t, sqrt(multiply(t, add(t, 2.0)))))
    return where(huge, add(log(_safe(huge, x)), _LN2), near)


def arctanh(x):
    """(log1p(x) - log1p(-x)) / 2: accurate near 0 and near +-1."""
    return multiply(subtract(log1p(x), log1p(negative(x))), 0.5)


def deg2rad(x):
    return multiply(x, _PI / 180.0)


def rad2deg(x):
    return multiply(x, 180.0 / _PI)


def signbit(x):
    """Whether the sign bit is set (negative numbers and -0.0; bool)."""
    if _is_int(x):
        return less(x, 0)
    x = _no_grad(x)  # 1 / x only tells -0.0 from 0.0: no (infinite) gradient may flow back through it
    return logical_or(less(x, 0.0), logical_and(equal(x, 0.0), less(reciprocal(x), 0.0)))


def heaviside(x1, x2):
    """0 where x1 < 0, 1 where x1 > 0, x2 where x1 == 0 (NaN stays NaN)."""
    x1 = cast(x1, "float32") if _is_int(x1) else x1
    out = where(less(x1, 0.0), 0.0, where(greater(x1, 0.0), 1.0, x2))
    return where(isnan(x1), x1, out)


def sinc(x):
    """sin(pi x) / (pi x), 1 at 0."""
    zero = equal(x, 0.0)
    px = multiply(_safe(logical_not(zero), x), _PI)
    return where(zero, 1.0, divide(sin(px), px))


