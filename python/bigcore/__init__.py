"""bigcore: Keras-style deep learning whose hot paths are native code."""

from bigcore import (activations, applications, backend, callbacks, compression, config, constraints, data, datasets, distributed,
                     export, initializers, layers, losses, metrics, mixed_precision, models, ops, optimizers,
                     preprocessing, quantization, regularizers, saving, sparse_select, tree, utils)
from bigcore._version import __version__
from bigcore.ops import random  # keras.random
from bigcore.layers import Input, InputSpec, KerasTensor, Layer
from bigcore.layers.base import Variable  # keras.Variable
from bigcore.layers.name_scope import name_scope  # keras.name_scope
from bigcore.models import Model, Sequential
# Keras 3's top-level names for the base classes (keras.Layer, keras.Loss, ...)
from bigcore.initializers import Initializer
from bigcore.losses import Loss
from bigcore.metrics import Metric
from bigcore.mixed_precision import DTypePolicy
from bigcore.optimizers import Optimizer
from bigcore.regularizers import Regularizer


def version():
    """The installed bigcore's version (keras.version())."""
    return __version__


__all__ = ["DTypePolicy", "Initializer", "Input", "InputSpec", "KerasTensor", "Layer", "Loss", "Metric", "Model",
           "Optimizer", "Regularizer", "Sequential", "__version__", "activations", "applications", "backend", "callbacks", "compression",
           "config", "constraints", "data", "datasets", "distributed", "export", "initializers", "layers", "losses",
           "metrics", "mixed_precision", "models", "name_scope", "ops", "optimizers", "preprocessing", "quantization", "random",
           "regularizers", "saving", "sparse_select", "tree", "utils", "Variable", "version"]
