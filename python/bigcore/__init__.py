"""bigcore: Keras-style deep learning whose hot paths are native code."""

__version__ = "0.1.0"

from bigcore import (activations, callbacks, compression, config, constraints, data, datasets, distributed,  # noqa: E402
                     export, initializers, layers, losses, metrics, models, optimizers, quantization, regularizers,
                     saving, sparse_select, utils)
from bigcore.layers import Input  # noqa: E402
from bigcore.models import Model, Sequential  # noqa: E402

__all__ = ["Input", "Model", "Sequential", "activations", "callbacks", "compression", "config", "constraints", "data",
           "datasets", "distributed", "export", "initializers", "layers", "losses", "metrics", "models", "optimizers",
           "quantization", "regularizers", "saving", "sparse_select", "utils"]
