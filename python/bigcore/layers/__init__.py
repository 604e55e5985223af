"""Keras layers on native kernels."""

from bigcore.layers.base import KerasTensor, Layer, Weight
from bigcore.layers.core import Activation, Dense, Dropout, Flatten, Input, InputLayer, Reshape

_CLASSES = {c.__name__: c for c in (Activation, Dense, Dropout, Flatten, InputLayer, Reshape)}


def get_class(name):
    if name not in _CLASSES:
        raise ValueError(f"Unknown layer: {name!r}")
    return _CLASSES[name]


def register(cls):
    _CLASSES[cls.__name__] = cls
    return cls


__all__ = ["Activation", "Dense", "Dropout", "Flatten", "Input", "InputLayer", "KerasTensor",
           "Layer", "Reshape", "Weight", "get_class", "register"]
