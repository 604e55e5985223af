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
