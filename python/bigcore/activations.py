"""Activation names and their native ids (cpp/common.h: enum Act)."""

import numpy as np

from bigcore._native import _core

_IDS = {"linear": 0, "relu": 1, "sigmoid": 2, "tanh": 3, "softmax": 4}


def serialize(name):
    return name


def get(identifier):
    """Returns the canonical name for a string, None or a function named like one of ours."""
    if identifier is None:
        return "linear"
    name = identifier if isinstance(identifier, str) else getattr(identifier, "__name__", None)
    if name not in _IDS:
        raise ValueError(
            f"Unknown activation: {identifier!r}. Supported: {', '.join(sorted(_IDS))}")
    return name


def native_id(name):
    return _IDS[get(name)]


def _make(name):
    def fn(x):
        x = np.asarray(x, dtype=np.float32)
        y = np.array(x.reshape(-1, x.shape[-1] if x.ndim else 1), order="C")
        _core.bias_act_forward(y, None, _IDS[name])
        return y.reshape(x.shape)

    fn.__name__ = name
    fn.__doc__ = f"{name} activation on a numpy array (native kernel)."
    return fn


linear = _make("linear")
relu = _make("relu")
sigmoid = _make("sigmoid")
tanh = _make("tanh")
softmax = _make("softmax")
