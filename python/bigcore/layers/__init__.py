"""Keras layers on native kernels."""

from bigcore.layers.base import KerasTensor, Layer, Weight
from bigcore.layers.core import Activation, Dense, Dropout, Flatten, Input, InputLayer, Reshape
from bigcore.layers.embedding import Embedding
from bigcore.layers.merging import Add, Average, Concatenate, Multiply
from bigcore.layers.recurrent import GRU, LSTM, Bidirectional

_CLASSES = {c.__name__: c for c in (Activation, Add, Average, Bidirectional, Concatenate, Dense, Dropout,
                                    Embedding, Flatten, GRU, InputLayer, LSTM, Multiply, Reshape)}


def get_class(name):
    if name not in _CLASSES:
        raise ValueError(f"Unknown layer: {name!r}")
    return _CLASSES[name]


def register(cls):
    _CLASSES[cls.__name__] = cls
    return cls


__all__ = ["Activation", "Add", "Average", "Bidirectional", "Concatenate", "Dense", "Dropout", "Embedding",
           "Flatten", "GRU", "Input", "InputLayer", "KerasTensor", "LSTM", "Layer", "Multiply", "Reshape",
           "Weight", "get_class", "register"]
