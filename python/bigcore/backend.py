"""keras.backend's names that programs call (bigcore has one backend, its native code)."""

import gc

import numpy as np

from bigcore import config
from bigcore.layers import base as _base
from bigcore.layers.base import KerasTensor

backend = config.backend
epsilon, set_epsilon = config.epsilon, config.set_epsilon
floatx, set_floatx = config.floatx, config.set_floatx
image_data_format, set_image_data_format = config.image_data_format, config.set_image_data_format


def clear_session(free_memory=True):
    """Keras's clear_session: layer names count from scratch again ("dense", "dense_1", ...) and
    what no model holds is freed. Models already built keep working."""
    _base._name_counts.clear()
    if free_memory:
        gc.collect()


def is_keras_tensor(x):
    """Whether x is a symbolic tensor of a model's graph (an Input or a layer's output)."""
    return isinstance(x, KerasTensor)


def standardize_dtype(dtype):
    """A dtype's Keras name ("float32", "int32", ...)."""
    if dtype is None:
        return config.floatx()
    return np.dtype(dtype).name if not isinstance(dtype, str) or dtype not in ("string", "bool") else dtype


def _dtype_name(dtype):
    """A dtype's name, from a name, a numpy dtype or scalar type, or an array (its dtype)."""
    if isinstance(dtype, str):
        return dtype
    if not isinstance(dtype, (type, np.dtype)) and hasattr(dtype, "dtype"):
        dtype = dtype.dtype
    return standardize_dtype(dtype)


def is_float_dtype(dtype):
    """Keras's: a floating dtype ("float16/32/64", "bfloat16")."""
    name = _dtype_name(dtype)
    return name.startswith("float") or name == "bfloat16"


def is_int_dtype(dtype):
    """Keras's: a signed or unsigned integer dtype (not bool)."""
    return _dtype_name(dtype).startswith(("int", "uint"))


def get_uid(prefix=""):
    """Keras's get_uid: a per-prefix count from 1, the one default layer names take theirs from (so a
    Dense made after get_uid("dense") is named "dense_1", as in Keras)."""
    n = _base._name_counts.get(prefix, 0) + 1
    _base._name_counts[prefix] = n
    return n
