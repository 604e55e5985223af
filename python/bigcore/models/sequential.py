"""Sequential: a stack of layers, lowered through the same graph as the functional Model."""

import numpy as np

from bigcore.layers.base import KerasTensor, Layer, _unique_name
from bigcore.layers.core import Input, InputLayer
from bigcore.layers.registry import register_model
from bigcore.models import input_side, serialization, shape_variants
from bigcore.models.functional import Model


@register_model("Sequential")
class Sequential(Model):
    _summary_lists_inputs = False

    def __init__(self, layers=None, name=None, **kw):
        super().__init__(name=name or _unique_name("sequential"), **kw)
        self._stack = []
        self._input_tensor = None
        for layer in layers or []:
            self.add(layer)

    def add(self, layer):
        shape_variants.forget(self)
        if isinstance(layer, Layer) and not isinstance(layer, InputLayer) and self._inputs is not None:
            self._extend(layer)
            return
        if isinstance(layer, KerasTensor) and isinstance(layer.node.layer, InputLayer):
            if self._stack or self._input_tensor is not None:
                raise ValueError("An Input can only be the first element of a Sequential model")
            self._input_tensor = layer
        elif isinstance(layer, InputLayer):
            self._input_tensor = layer.output
        elif isinstance(layer, Layer):
            self._stack.append(layer)
        else:
            raise TypeError(f"Only layers can be added to a Sequential model, got {layer!r}")
        self._inputs = None
        self.built = False
        self._program = None
        if self._stack and (self._input_tensor is not None or self._stack[0]._input_shape_arg is not None):
            self.build()

    def _extend(self, layer):
        """Adds `layer` to a built model by calling it on the current output alone and appending
        that one call to the graph: rebuilding the whole stack would call every layer again
        (quadratic in the depth, and each earlier layer would collect a stale call per add)."""
        if any(l.name == layer.name for l in self._graph_layers):
            raise ValueError(f'The name "{layer.name}" is used 2 times in the model. All layer names should be unique.')
        with self._open_name_scope():  # as Keras's rebuild of the stack would: "sequential/dense/kernel"
            out = layer(self._outputs[0])
        self._stack.append(layer)
        self._program = None
        if isinstance(out, list):  # the general checks (Sequential layers have one output)
            self._init_graph(self._inputs[0], out)
            return
        self._nodes.append(out.node)
        self._graph_layers.append(layer)
        self._outputs = [out]
        if self._front_nodes or getattr(layer, "input_side", False):  # the input side's cut may move
            self._front_nodes, self._native_inputs, self._native_nodes = input_side.split(
                self._inputs, self._nodes, self._outputs)
        else:
            self._native_nodes.append(out.node)

    def pop(self):
        if not self._stack:
            raise TypeError("There are no layers in the model.")
        layer = self._stack.pop()
        shape_variants.forget(self)
        shape = tuple(self._inputs[0].shape) if self._inputs else None
        self._inputs, self.built, self._program = None, False, None
        if self._stack and (shape is not None or self._input_tensor is not None
                            or self._stack[0]._input_shape_arg is not None):
            self.build(shape)  # Keras rebuilds only a model whose input shape is known
        return layer

    def build(self, input_shape=None):
        if self._input_tensor is not None:
            inp = self._input_tensor
        elif self._stack and self._stack[0]._input_shape_arg is not None:
            inp = Input(shape=self._stack[0]._input_shape_arg)
            self._input_tensor = inp
        elif input_shape is not None:
            inp = Input(shape=tuple(input_shape)[1:])
        else:
            raise ValueError(f"Sequential model {self.name!r} cannot be built without an input shape: "
                             "add an Input, pass input_shape to the first layer, or call fit/predict")
        if not self._stack:
            raise ValueError(f"Sequential model {self.name!r} has no layers")
        x = inp
        for layer in self._stack:
            x = layer(x)
        self._init_graph(inp, x)

    def __call__(self, inputs, *args, **kwargs):
        if self._inputs is None and isinstance(inputs, KerasTensor):  # Keras builds it on its first call
            self.build(tuple(inputs.shape))
        return super().__call__(inputs, *args, **kwargs)

    def _build_from(self, x):
        if x is None:
            return
        if self._inputs is None:
            self.build((None,) + np.shape(x)[1:])
        elif shape_variants.differs(self, x):  # Keras runs the layers on any shape they take
            self._graph_for(tuple(x.shape[1:]))

    def _takes_any_shape(self):
        return True

    def _graph_for(self, shape):
        shape_variants.switch(self, shape, self._build_at)

    def _build_at(self, shape):
        """The stack called on an Input of sample shape `shape` (another shape's graph)."""
        first = self._inputs[0]
        inp = Input(shape=shape, dtype=first.dtype)
        x = inp
        for layer in self._stack:
            x = layer(x)
        self._init_graph(inp, x)

    def _ensure_built(self, x=None):
        if self._inputs is None:
            raise ValueError(f"Sequential model {self.name!r} has not been built yet: give the first layer an "
                             "input_shape, start with an Input, or call fit/predict on data first")

    @property
    def layers(self):
        return list(self._stack)

    def get_config(self):
        return serialization.sequential_config(self)

    @classmethod
    def _from_config(cls, config, make_layer):
        return cls(serialization.sequential_layers(config, make_layer), name=config.get("name"))
