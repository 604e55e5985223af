"""The two small layers FeatureSpace (utils/feature_space.py) adds around bigcore's preprocessing
layers, with Keras's class names: TFDIdentity (the "float" feature: values as float32) and TFDConcat
(the encoded features side by side). They run on the input side like the layers they join.
"""

import numpy as np

from bigcore.layers.preprocessing.base import InputSideLayer
from bigcore.layers.registry import register


@register
class TFDIdentity(InputSideLayer):
    """The "float" feature's preprocessor: the values as float32 (Keras's TFDIdentity(dtype="float32"))."""

    def call(self, inputs):
        return np.asarray(inputs, np.float32)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


@register
class TFDConcat(InputSideLayer):
    """The encoded features side by side along `axis` (Keras's TFDConcat)."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def call(self, inputs):
        return np.concatenate([np.asarray(x, np.float32) for x in inputs], axis=self.axis)

    def compute_output_shape(self, input_shape):
        shapes = [tuple(s) for s in input_shape]
        dims = [s[self.axis] for s in shapes]
        total = None if any(d is None for d in dims) else sum(dims)
        out = list(shapes[0])
        out[self.axis] = total
        return tuple(out)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
