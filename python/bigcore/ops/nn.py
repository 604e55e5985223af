"""keras.ops's neural-network functions: activations, softmax, one_hot, normalization helpers."""

from bigcore import _random
from bigcore.ops import math as _math_ops
from bigcore.ops import numpy as _np_ops
from bigcore.ops.node import apply


def _act(kind, doc):
    def op(x):
        return apply(kind, [x])
    op.__name__ = kind
    op.__doc__ = doc
    return op


relu = _act("relu", "max(x, 0).")
relu6 = _act("relu6", "min(max(x, 0), 6).")
sigmoid = _act("sigmoid", "1 / (1 + exp(-x)).")
tanh = _act("tanh", "Hyperbolic tangent.")
softplus = _act("softplus", "log(1 + exp(x)).")
softsign = _act("softsign", "x / (1 + |x|).")
silu = _act("silu", "x * sigmoid(x).")
swish = silu
selu = _act("selu", "Scaled exponential linear unit.")
hard_sigmoid = _act("hard_sigmoid", "relu6(x + 3) / 6.")
hard_silu = _act("hard_silu", "x * hard_sigmoid(x).")
hard_swish = hard_silu
log_sigmoid = _act("log_sigmoid", "log(sigmoid(x)).")


def gelu(x, approximate=True):
    """Gaussian error linear unit: the tanh approximation (Keras's default) or the exact erf form."""
    return apply("gelu", [x], {"approximate": bool(approximate)})


def elu(x, alpha=1.0):
    return apply("elu", [x], {"alpha": float(alpha)})


def leaky_relu(x, negative_slope=0.2):
    return apply("leaky_relu", [x], {"negative_slope": float(negative_slope)})


def _one_axis(axis, what):
    if isinstance(axis, (list, tuple)):
        if len(axis) != 1:
            raise ValueError(f"{what} over several axes is not supported; reshape them into one")
        axis = axis[0]
    return int(axis)


def softmax(x, axis=-1):
    return apply("softmax", [x], {"axis": _one_axis(axis, "softmax")})


def log_softmax(x, axis=-1):
    return apply("log_softmax", [x], {"axis": _one_axis(axis, "log_softmax")})


def one_hot(x, num_classes, axis=-1, dtype=None, sparse=False):
    """A one-hot axis of num_classes for integer ids (a negative id gives a row of zeros)."""
    if sparse:
        raise ValueError("one_hot: sparse=True is not supported")
    out = apply("one_hot", [x], {"num_classes": int(num_classes), "axis": int(axis)})
    return out if dtype is None or dtype == "float32" else _np_ops.cast(out, dtype)


def normalize(x, axis=-1, order=2, epsilon=None):
    """Keras 3's ops.normalize along axis: for order 2, x * min(rsqrt(sum(x^2)), 1 / epsilon); else
    x / max(||x||_order, epsilon); epsilon defaults to Keras's backend epsilon, 1e-7."""
    if isinstance(order, bool) or not isinstance(order, int) or order < 1:
        raise ValueError(f"Argument `order` must be an int >= 1. Received: order={order!r}")
    eps = 1e-7 if epsilon is None else epsilon
    if order == 2:
        inv = _np_ops.minimum(_math_ops.rsqrt(_np_ops.sum(_np_ops.square(x), axis=axis, keepdims=True)), 1.0 / eps)
        return _np_ops.multiply(x, inv)
    norm = apply("norm", [x], {"ord": order, "axis": axis, "keepdims": True})
    return _np_ops.divide(x, _np_ops.maximum(norm, eps))


def moments(x, axes, keepdims=False, synchronized=False):
    """(mean, variance) over axes."""
    return _np_ops.mean(x, axis=axes, keepdims=keepdims), _np_ops.var(x, axis=axes, keepdims=keepdims)


def dropout(x, rate, noise_shape=None, seed=None):
    """Inverted dropout at `rate` (keras.random.dropout): keys its random stream from (the model's
    seed, the step, this op); in a model it is active while training only."""
    if noise_shape is not None:
        raise ValueError("dropout: noise_shape is not supported")
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout: rate must be in [0, 1). Received: rate={rate!r}")
    stream = seed if isinstance(seed, int) else _random.next_stream()
    return apply("dropout", [x], {"rate": float(rate), "stream": int(stream)})

