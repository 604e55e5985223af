"""keras.ops's neural-network functions: activations, softmax, one_hot, normalization helpers."""

import warnings

from bigcore import _random, activations
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



def celu(x, alpha=1.0):
    """max(x, 0) + min(alpha * (exp(x / alpha) - 1), 0)."""
    alpha = float(alpha)
    neg = _np_ops.minimum(x, 0.0)
    return _np_ops.add(_np_ops.maximum(x, 0.0), _np_ops.multiply(_np_ops.expm1(_np_ops.divide(neg, alpha)), alpha))


def glu(x, axis=-1):
    """a * sigmoid(b), a and b the halves of x along axis."""
    n = _np_ops.shape_of(x)[axis]
    if n is not None and n % 2:
        raise ValueError(f"glu: axis {axis} must have an even length. Received: {n}")
    a, b = _np_ops.split(x, 2, axis=axis)
    return _np_ops.multiply(a, sigmoid(b))


def hard_tanh(x):
    """clip(x, -1, 1)."""
    return _np_ops.clip(x, -1.0, 1.0)


def hard_shrink(x, threshold=0.5):
    """x where |x| > threshold, else 0."""
    return _np_ops.where(_np_ops.greater(_np_ops.absolute(x), float(threshold)), x, 0.0)


def soft_shrink(x, threshold=0.5):
    """x - threshold above it, x + threshold below -threshold, 0 between."""
    t = float(threshold)
    return _np_ops.where(_np_ops.greater(x, t), _np_ops.subtract(x, t),
                         _np_ops.where(_np_ops.less(x, -t), _np_ops.add(x, t), 0.0))


def tanh_shrink(x):
    """x - tanh(x)."""
    return _np_ops.subtract(x, tanh(x))


def threshold(x, threshold, default_value):
    """x where x > threshold, else default_value."""
    return _np_ops.where(_np_ops.greater(x, float(threshold)), x, float(default_value))


def squareplus(x, b=4):
    """(x + sqrt(x^2 + b)) / 2."""
    if b < 0:
        raise ValueError(f"squareplus: b must be >= 0. Received: b={b}")
    return _np_ops.multiply(_np_ops.add(x, _np_ops.sqrt(_np_ops.add(_np_ops.square(x), float(b)))), 0.5)


def sparse_plus(x):
    """0 for x <= -1, (x + 1)^2 / 4 for -1 < x < 1, x for x >= 1."""
    mid = _np_ops.multiply(_np_ops.square(_np_ops.add(x, 1.0)), 0.25)
    return _np_ops.where(_np_ops.less_equal(x, -1.0), 0.0, _np_ops.where(_np_ops.greater_equal(x, 1.0), x, mid))


def sparse_sigmoid(x):
    """0 for x <= -1, (x + 1) / 2 for -1 < x < 1, 1 for x >= 1."""
    mid = _np_ops.multiply(_np_ops.add(x, 1.0), 0.5)
    return _np_ops.where(_np_ops.less_equal(x, -1.0), 0.0, _np_ops.where(_np_ops.greater_equal(x, 1.0), 1.0, mid))


def sparsemax(x, axis=-1):
    """The Euclidean projection of x onto the simplex along axis: relu(x - tau). The support is found
    without sorting: x_i is in it when 1 + k_i x_i > s_i, k_i and s_i the count and the sum of the
    entries >= x_i (pairwise comparisons, O(n^2) along axis)."""
    axis = _one_axis(axis, "sparsemax")
    nd = _np_ops.ndim(x)
    ax = axis % nd
    if ax != nd - 1:
        x = _np_ops.moveaxis(x, ax, -1)
    ge = _np_ops.cast(_np_ops.greater_equal(_np_ops.expand_dims(x, -2), _np_ops.expand_dims(x, -1)), "float32")
    k = _np_ops.sum(ge, axis=-1)                                         # (..., i)
    s = _np_ops.sum(_np_ops.multiply(ge, _np_ops.expand_dims(x, -2)), axis=-1)
    support = _np_ops.cast(_np_ops.greater(_np_ops.add(_np_ops.multiply(k, x), 1.0), s), "float32")
    size = _np_ops.sum(support, axis=-1, keepdims=True)
    tau = _np_ops.divide(_np_ops.subtract(_np_ops.sum(_np_ops.multiply(support, x), axis=-1, keepdims=True), 1.0),
                         size)
    out = relu(_np_ops.subtract(x, tau))
    return _np_ops.moveaxis(out, -1, ax) if ax != nd - 1 else out


def rms_normalization(x, scale=None, axis=-1, epsilon=None):
    """x * rsqrt(mean(x^2 over axis) + epsilon) * scale (epsilon: Keras's 1e-7 by default)."""
    eps = 1e-7 if epsilon is None else float(epsilon)
    ms = _np_ops.mean(_np_ops.square(x), axis=axis, keepdims=True)
    out = _np_ops.multiply(x, _math_ops.rsqrt(_np_ops.add(ms, eps)))
    return out if scale is None else _np_ops.multiply(out, scale)


def layer_normalization(x, gamma=None, beta=None, axis=-1, epsilon=None, **kwargs):
    """(x - mean) * rsqrt(var + epsilon) * gamma + beta over axis (Keras's formula and epsilon 1e-7);
    gamma and beta broadcast against the normalized axes."""
    rms_scaling = bool(kwargs.pop("rms_scaling", False))  # Keras's deprecated form: x * rsqrt(var + eps) * gamma
    if rms_scaling:
        warnings.warn("layer_normalization: rms_scaling=True is deprecated (as in Keras): it scales x by the variance, "
                      "not the root mean square; use rms_normalization", UserWarning, stacklevel=2)
    if kwargs:
        raise TypeError(f"layer_normalization: unexpected arguments {sorted(kwargs)}")
    eps = 1e-7 if epsilon is None else float(epsilon)
    nd = _np_ops.ndim(x)
    axes = sorted(a % nd for a in ([axis] if isinstance(axis, int) else axis))
    full = list(_np_ops.shape_of(x))

    def _b(v):
        if v is None or _np_ops.ndim(v) == nd or axes == [nd - 1]:
            return v
        return _np_ops.reshape(v, [full[i] if i in axes else 1 for i in range(nd)])

    mean, var = moments(x, axes=axes, keepdims=True)
    inv = _math_ops.rsqrt(_np_ops.add(var, eps))
    if rms_scaling:
        out = _np_ops.multiply(x, inv)
        return out if gamma is None else _np_ops.multiply(out, _b(gamma))
    if gamma is not None:
        inv = _np_ops.multiply(inv, _b(gamma))
    res = _np_ops.negative(_np_ops.multiply(mean, inv))
    if beta is not None:
        res = _np_ops.add(res, _b(beta))
    return _np_ops.add(_np_ops.multiply(x, inv), res)


def _keras_relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """keras.activations.relu with its arguments, as ops (activations.relu's definition)."""
    if negative_slope == 0.0 and max_value is None and threshold == 0.0:
        return relu(x)
    y = _np_ops.where(_np_ops.greater(x, float(threshold)), x, 0.0) if threshold != 0 else _np_ops.maximum(x, 0.0)
    if max_value is not None:
        y = _np_ops.clip(y, 0.0, float(max_value))
    if negative_slope != 0.0:
        y = _np_ops.subtract(y, _np_ops.multiply(_np_ops.maximum(_np_ops.subtract(float(threshold), x), 0.0),
                                                 float(negative_slope)))
    return y


# keras.activations' functions on symbolic tensors: the ops of the same definition (activations.gelu
# defaults to the exact form, ops.gelu to the tanh one, as in Keras)
_ACTIVATION_OPS = {
    "linear": lambda x: x, "relu": _keras_relu, "gelu": lambda x, approximate=False: gelu(x, approximate),
    "gelu_approximate": lambda x: gelu(x, True), "exponential": _np_ops.exp,
    "mish": lambda x: _np_ops.multiply(x, tanh(softplus(x))),
}


def _activation_on_tensor(name, x, args, kwargs):
    fn = _ACTIVATION_OPS.get(name) or globals()[name]
    return fn(x, *args, **kwargs)


activations.set_symbolic_runner(_activation_on_tensor)
