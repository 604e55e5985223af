"""bigcore: Keras-style deep learning whose hot paths are native code."""

__version__ = "0.1.0"

from bigcore import (activations, callbacks, config, constraints, data, datasets, export,  # noqa: E402
                     initializers, layers, losses, metrics, models, optimizers, quantization, regularizers,
                     saving, utils)
from bigcore.layers import Input  # noqa: E402
from bigcore.models import Model, Sequential  # noqa: E402

__all__ = ["Input", "Model", "Sequential", "activations", "callbacks", "config", "constraints", "data", "datasets",
           "export", "initializers", "layers", "losses", "metrics", "models", "optimizers", "quantization",
           "regularizers", "saving", "utils"]
