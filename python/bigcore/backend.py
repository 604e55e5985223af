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


# Keras's names for Python's types (its torch and jax backends' choice for int), and the dtypes it knows
_PYTHON_DTYPES = {bool: "bool", int: "int32", float: "float32", str: "string", "int": "int32", complex: "complex64"}
_ALLOWED_DTYPES = frozenset(("bfloat16", "bool", "complex128", "complex64", "float16", "float32", "float64",
                             "float8_e4m3fn", "float8_e5m2", "int16", "int32", "int64", "int8", "string", "uint16",
                             "uint32", "uint64", "uint8"))


def standardize_dtype(dtype):
    """Keras's standardize_dtype: a dtype's Keras name ("float32", "int32", ...) from a name, a numpy
    dtype or scalar type, or a Python type; ValueError for anything else."""
    if dtype is None:
        return config.floatx()
    dtype = _PYTHON_DTYPES.get(dtype, dtype)
    if hasattr(dtype, "name"):
        dtype = dtype.name
    elif hasattr(dtype, "__name__"):
        dtype = dtype.__name__
    if dtype not in _ALLOWED_DTYPES:
        raise ValueError(f"Invalid dtype: {dtype}")
    return dtype


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
