"""keras.layers.Wrapper: the base class of a layer that wraps another (Keras's abstract base; a
subclass's call() is traced as any custom layer's). The wrapped layer's weights are the wrapper's."""

from bigcore.layers.base import Layer
from bigcore.layers.registry import layer_config, layer_from_config, register


@register
class Wrapper(Layer):
    """Holds `layer`; build() builds it for the wrapper's input shape; the config keeps it."""

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, Layer):
            raise ValueError(f"Layer {layer!r} supplied to Wrapper isn't a supported layer type. Please ensure "
                             "wrapped layer is a valid Keras layer.")
        super().__init__(**kwargs)
        self.layer = layer

    def build(self, input_shape=None):
        if not self.layer.built:
            self.layer.build(input_shape)
            self.layer.built = True
        self.built = True

    def get_config(self):
        return {**super().get_config(), "layer": layer_config(self.layer)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        return cls(layer_from_config(config.pop("layer")), **config)
