"""Activation names and their native ids (cpp/core/common.h: enum Act)."""

import numpy as np

from bigcore._native import _core

# "gelu" is Keras's exact GELU (erf); "gelu_approximate" is bigcore's name for the tanh form
# (keras.activations.gelu(x, approximate=True)); "swish" is Keras's other name for "silu".
_IDS = {"linear": 0, "relu": 1, "sigmoid": 2, "tanh": 3, "softmax": 4, "gelu": 5, "gelu_approximate": 6,
        "silu": 7}
_ALIASES = {"swish": "silu"}


def serialize(name):
    return name


def get(identifier):
    """Returns the canonical name for a string, None or a function named like one of ours."""
    if identifier is None:
        return "linear"
    name = identifier if isinstance(identifier, str) else getattr(identifier, "__name__", None)
    name = _ALIASES.get(name, name)
    if name not in _IDS:
        raise ValueError(
            f"Unknown activation: {identifier!r}. Supported: {', '.join(sorted(set(_IDS) | set(_ALIASES)))}")
    return name


def native_id(name):
    return _IDS[get(name)]


def _run(name, x):
    x = np.asarray(x, dtype=np.float32)
    y = np.array(x.reshape(-1, x.shape[-1] if x.ndim else 1), order="C")
    _core.bias_act_forward(y, None, _IDS[name])
    return y.reshape(x.shape)


def _make(name):
    def fn(x):
        return _run(name, x)

    fn.__name__ = name
    fn.__doc__ = f"{name} activation on a numpy array (native kernel)."
    return fn


linear = _make("linear")
relu = _make("relu")
sigmoid = _make("sigmoid")
tanh = _make("tanh")
softmax = _make("softmax")
silu = _make("silu")
swish = silu
gelu_approximate = _make("gelu_approximate")


def gelu(x, approximate=False):
    """GELU on a numpy array (native kernel): x * Phi(x) exactly (erf), or the tanh approximation."""
    return _run("gelu_approximate" if approximate else "gelu", x)
