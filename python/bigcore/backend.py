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


# Keras's (JAX's) promotion lattice: each dtype and the ones just above it. "int" and "float" are
# the weak types of Python numbers, which take the other operand's precision.
_LATTICE = {"bool": ("int",), "int": ("uint8", "int8", "complex64"), "uint8": ("int16", "uint16"),
            "uint16": ("int32", "uint32"), "uint32": ("int64", "uint64"), "uint64": ("float",),
            "int8": ("int16",), "int16": ("int32",), "int32": ("int64",), "int64": ("float",),
            "float": ("bfloat16", "float16"), "bfloat16": ("float32",), "float16": ("float32",),
            "float32": ("float64", "complex64"), "float64": ("complex128",), "complex64": ("complex128",),
            "complex128": ()}


def _above(node):
    seen, todo = {node}, [node]
    while todo:
        for up in _LATTICE[todo.pop()]:
            if up not in seen:
                seen.add(up)
                todo.append(up)
    return seen


_UPPER = {node: _above(node) for node in _LATTICE}
# Keras's 64-bit results on its torch and jax backends
_NARROW = {"int64": "int32", "uint64": "uint32", "float64": "float32", "complex128": "complex64"}


def _least_upper_bound(nodes):
    common = set.intersection(*(_UPPER[n] for n in nodes))
    least = [c for c in common if common <= _UPPER[c]]
    if len(least) != 1:
        raise ValueError(f"Input dtypes {tuple(nodes)} have no available implicit dtype promotion path. Try "
                         "explicitly casting inputs to the desired output type.")
    return least[0]


def result_type(*dtypes):
    """Keras's keras.backend.result_type: the dtype its promotion rules give these dtypes (names,
    numpy dtypes, Python int / float / bool as weak types; None is floatx). As Keras on its torch
    backend, 64-bit results come out 32-bit. bigcore's programs themselves compute in float32,
    int32 and bool; this answers what Keras would make."""
    if not dtypes:
        return config.floatx()
    if any(d in ("float8_e4m3fn", "float8_e5m2") for d in dtypes):
        raise ValueError(f"There is no implicit conversions from float8 dtypes to others. You must cast it "
                         f"internally. Received: {dtypes}")
    names = [standardize_dtype(config.floatx() if d is None else d) for d in dtypes]
    weak = [d is int or d is float for d in dtypes]
    for n in names:
        if n not in _LATTICE:
            raise ValueError(f"dtype={n!r} is not a valid dtype for Keras type promotion.")
    if len(names) == 1 or (len(set(names)) == 1 and not all(weak)):
        out, out_weak = names[0], len(names) == 1 and weak[0]
    else:
        def node(n, w):
            return ("float" if "float" in n else "int" if "int" in n else n) if w and n != "bool" else n
        out = _least_upper_bound({node(n, w and not all(weak)) for n, w in zip(names, weak)})
        out_weak = all(weak) or out in ("int", "float")
    if out_weak and out != "bool":
        bits = config.floatx()[-2:]
        kind = "float" if out in ("float", "bfloat16") or out.startswith("float") else out.rstrip("0123456789")
        out = f"{kind}{bits}" if kind in ("int", "uint", "float") else out
    return _NARROW.get(out, out)


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
