"""TimeDistributed: a layer applied to every timestep, as ONE native op over the folded time axis
(cpp/ops/fold.h): (batch, T, ...) is seen as (batch * T, ...), so a wrapped Dense or Conv2D runs one
GEMM over all timesteps, and any layer that lowers to native ops can be wrapped. As Keras, the
wrapped layer is called directly (no activity regularizer) and the input's mask passes on.
"""

import math

from bigcore._native import _core
from bigcore.layers.base import KerasTensor, Layer, Node, shape_str
from bigcore.layers.registry import layer_config, layer_from_config, register


class _Folded:
    """What the wrapped layer's lower() sees: tensors of one timestep in a program of their own,
    parameters in the outer program's arena, no masks."""

    def __init__(self, outer, node):
        self.native = _core.Program()
        self.node = node
        self._outer = outer
        self._ids = {}

    def tensor(self, kt, is_input=False):
        rest = kt.shape[1:]
        return self.native.add_tensor(math.prod(rest) if rest else 1, False)

    def view(self, t, kt):
        return t  # one timestep's tensors are flat: a reshape within it changes nothing

    def param(self, w):
        return self._outer.param(w)

    def mask_id(self, kt):
        return -1

    def bind(self, kt, tensor_id):
        self._ids[id(kt)] = tensor_id

    def id(self, kt):
        return self._ids[id(kt)]


@register
class TimeDistributed(Layer):
    supports_masking = True
    supports_variable_length = True  # the op reads the timesteps per call (a None time axis)

    def __init__(self, layer, **kw):
        if not isinstance(layer, Layer):
            raise ValueError(f"Please initialize `TimeDistributed` layer with a `keras.layers.Layer` instance. "
                             f"Received: {layer!r}")
        super().__init__(**kw)
        self.layer = layer

    def _inner_shape(self, shape):
        return (None if shape[0] is None or shape[1] is None else shape[0] * shape[1],) + tuple(shape[2:])

    def _check_input(self, shape):
        if len(shape) < 3:
            raise ValueError(f"`TimeDistributed` Layer should be passed an `input_shape` with at least 3 dimensions, "
                             f"received: {shape_str(shape)}")
        if any(d is None for d in shape[2:]):
            raise ValueError(f"TimeDistributed {self.name!r}: the axes after the time axis must be known, received: "
                             f"{shape_str(shape)}")
        self.layer._check_input(self._inner_shape(shape))

    def build(self, input_shape):
        if not self.layer.built:
            self.layer.build(self._inner_shape(input_shape))
            self.layer.built = True
        self._weights = self.layer.weights
        self.built = True

    def compute_output_shape(self, input_shape):
        inner = self.layer.compute_output_shape((input_shape[0],) + tuple(input_shape[2:]))
        if isinstance(inner, list):
            raise ValueError(f"TimeDistributed {self.name!r}: the wrapped layer must have a single output")
        return (input_shape[0], input_shape[1]) + tuple(inner[1:])

    def lower(self, prog, inputs, outputs):
        x_kt = prog.node.inputs[0]
        inner_in = KerasTensor((None,) + tuple(x_kt.shape[2:]), name=f"{self.name}/step_in")
        inner_out = KerasTensor((None,) + tuple(outputs[0].shape[2:]), name=f"{self.name}/step_out")
        folded = _Folded(prog, Node(self.layer, [inner_in], [inner_out]))
        local_in = folded.tensor(inner_in)
        local_out = self.layer.lower(folded, [local_in], [inner_out])[0]
        if local_out == local_in:  # a pure reshape (Flatten, Reshape): the same buffer, the output's shape
            return [prog.view(inputs[0], outputs[0])]
        out = prog.tensor(outputs[0])
        prog.native.add_time_distributed(folded.native, inputs[0], out, local_in, local_out, x_kt.shape[1] or 0)
        return [out]

    def get_config(self):
        return {**super().get_config(), "layer": layer_config(self.layer)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["layer"] = layer_from_config(config["layer"])
        return cls(**config)
