"""Keras layers on native kernels.

One module per family; each class registers itself (layers/registry.py) where it is defined, and
this package imports every module, so every layer is findable by name once bigcore is imported.
The int8 and sparse layers (quantized.py, quantized_recurrent.py, sparse.py) are made by
bigcore.quantization and bigcore.sparse_select, which re-export them, and load back by name.
"""

from bigcore.layers import quantized, quantized_recurrent, sparse  # noqa: F401  (registers their classes)
from bigcore.layers import tracing  # noqa: F401  (installs the tracer of custom layers' call())
from bigcore.layers.base import KerasTensor, Layer, Weight
from bigcore.layers.core import Activation, Dense, Dropout, Flatten, Input, InputLayer, Reshape
from bigcore.layers.embedding import Embedding
from bigcore.layers.lambda_layer import Lambda
from bigcore.layers.merging import Add, Average, Concatenate, Multiply
from bigcore.layers.preprocessing import (CategoryEncoding, Discretization, Hashing, IntegerLookup, Normalization,
                                          Rescaling, StringLookup, TextVectorization)
from bigcore.layers.recurrent import GRU, LSTM, Bidirectional
from bigcore.layers.registry import get_class, register

__all__ = ["Activation", "Add", "Average", "Bidirectional", "CategoryEncoding", "Concatenate", "Dense",
           "Discretization", "Dropout", "Embedding", "Flatten", "GRU", "Hashing", "Input", "InputLayer", "IntegerLookup",
           "KerasTensor", "LSTM", "Lambda", "Layer", "Multiply", "Normalization", "Rescaling", "Reshape",
           "StringLookup", "TextVectorization", "Weight", "get_class", "register"]
