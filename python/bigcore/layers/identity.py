"""Identity (Keras): the input unchanged, mask included; no op (the same buffer)."""

from bigcore.layers.base import Layer
from bigcore.layers.registry import register


@register
class Identity(Layer):
    supports_masking = True

    def lower(self, prog, inputs, outputs):
        return inputs
