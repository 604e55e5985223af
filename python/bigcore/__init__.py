"""bigcore: Keras-style deep learning whose hot paths are native code."""

from bigcore import (activations, callbacks, compression, config, constraints, data, datasets, distributed,
                     export, initializers, layers, losses, metrics, models, ops, optimizers, preprocessing,
                     quantization, regularizers, saving, sparse_select, utils)
from bigcore._version import __version__
from bigcore.ops import random  # keras.random
from bigcore.layers import Input
from bigcore.models import Model, Sequential

__all__ = ["Input", "Model", "Sequential", "__version__", "activations", "callbacks", "compression", "config",
           "constraints", "data", "datasets", "distributed", "export", "initializers", "layers", "losses", "metrics",
           "models", "ops", "optimizers", "preprocessing", "quantization", "random", "regularizers", "saving",
           "sparse_select", "utils"]
