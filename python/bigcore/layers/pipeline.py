"""keras.layers.Pipeline: a plain layer (not a model) that applies its layers in turn. Its call()
is traced as a custom layer's, so each inner layer lowers to its own native op; the config lists
the inner layers as Keras's does ({"layers": [...], "name": ...})."""

from bigcore.layers.base import KerasTensor, Layer
from bigcore.layers.registry import layer_from_config, register, serialize


@register
class Pipeline(Layer):
    keras_config_has_dtype = False  # Keras's Pipeline(layers, name) takes no dtype
    call_default_training = True  # Keras's Pipeline.call(inputs, training=True)

    def __init__(self, layers, name=None, **kwargs):
        if not isinstance(layers, (list, tuple)) or not all(isinstance(layer, Layer) for layer in layers):
            raise ValueError(f"`Pipeline` expects a list of layers. Received: layers={layers!r}")
        super().__init__(name=name, **kwargs)
        self._pipeline_layers = list(layers)

    @property
    def layers(self):
        return self._pipeline_layers

    def call(self, inputs, training=True):
        """Keras's default: training=True (an eager call augments); a model gives its own mode."""
        x = inputs
        for layer in self._pipeline_layers:  # as Keras: training only to layers that take it
            x = layer(x) if training is None or getattr(layer, "input_side", False) else layer(x, training=training)
        return x

    def compute_output_shape(self, input_shape):
        for layer in self._pipeline_layers:
            input_shape = layer.compute_output_shape(input_shape)
        return input_shape

    def get_config(self):
        return {"layers": [serialize(layer) for layer in self._pipeline_layers], "name": self.name}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        layers = config.get("layers")
        if not isinstance(layers, (list, tuple)):
            raise ValueError("`Pipeline` config must contain a `layers` key mapping to a list of serialized layers. "
                             f"Received config with layers={layers}.")
        return cls(**{**config, "layers": [layer_from_config(c) for c in layers]})
