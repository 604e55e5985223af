"""keras.ops.numpy's integer bit operations (bitwise_and / or / xor / not / invert, the left and right
shifts) and gcd / lcm. A bigcore program computes in float32 and has no integer bit primitive, so
these run on arrays (numpy, with Keras's int32 for Python ints) and refuse symbolic tensors."""

import numpy as np

from bigcore.ops.core import convert_to_tensor
from bigcore.ops.node import is_symbolic


def _ints(name, *xs):
    if is_symbolic(xs):
        raise ValueError(f"{name}: bigcore's programs compute in float32 and have no integer bit operations, so "
                         f"{name} runs on arrays only, not on symbolic tensors (a model's inputs or a traced call())")
    out = []
    for x in xs:
        a = np.asarray(convert_to_tensor(x))
        if a.dtype.kind not in "biu":
            raise TypeError(f"{name} expects integer or bool tensors. Received: dtype={a.dtype}")
        out.append(a)
    return out


def bitwise_and(x, y):
    a, b = _ints("bitwise_and", x, y)
    return np.bitwise_and(a, b)


def bitwise_or(x, y):
    a, b = _ints("bitwise_or", x, y)
    return np.bitwise_or(a, b)


def bitwise_xor(x, y):
    a, b = _ints("bitwise_xor", x, y)
    return np.bitwise_xor(a, b)


def bitwise_invert(x):
    (a,) = _ints("bitwise_invert", x)
    return np.invert(a)


def bitwise_not(x):
    (a,) = _ints("bitwise_not", x)
    return np.invert(a)


def _shift_args(name, x, y):
    # a Python int shift keeps x's dtype (Keras: result_type only for a tensor y)
    if isinstance(y, (int, np.integer)) and not isinstance(y, bool):
        (a,) = _ints(name, x)
        return a, a.dtype.type(y) if a.dtype.kind != "b" else int(y)
    return _ints(name, x, y)


def _shift(name, fn, x, y):
    return fn(*_shift_args(name, x, y))


def bitwise_left_shift(x, y):
    return _shift("bitwise_left_shift", np.left_shift, x, y)


def bitwise_right_shift(x, y):
    return _shift("bitwise_right_shift", np.right_shift, x, y)


def left_shift(x, y):  # Keras's alias of bitwise_left_shift; errors name the one called
    return _shift("left_shift", np.left_shift, x, y)


def right_shift(x, y):
    return _shift("right_shift", np.right_shift, x, y)


def gcd(x1, x2):
    """The greatest common divisor, element-wise (non-negative; gcd(0, 0) = 0)."""
    a, b = _ints("gcd", x1, x2)
    return np.gcd(a, b)


def lcm(x1, x2):
    """The least common multiple, element-wise (non-negative; 0 where either is 0)."""
    a, b = _ints("lcm", x1, x2)
    return np.lcm(a, b)
