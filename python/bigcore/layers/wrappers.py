"""TimeDistributed: a layer applied to every timestep, as ONE native op over the folded time axis
(cpp/ops/fold.h): (batch, T, ...) is seen as (batch * T, ...), so a wrapped Dense or Conv2D runs one
GEMM over all timesteps. The wrapped layer is called on one timestep's placeholder and that call is
lowered as any graph is (models/lowering.py, Lowering.folded), so any layer that lowers wraps: a
built-in layer, a custom layer's traced call(), a Sequential, a functional or subclassed model. As
Keras, the wrapped layer is called directly (no activity regularizer), with the wrapper's
`training`, and the input's mask passes on.
"""

import inspect

from bigcore.layers import base, tracing
from bigcore.layers.base import KerasTensor, Layer, shape_str
from bigcore.layers.masking import TakesMask
from bigcore.layers.registry import register
from bigcore.layers.wrapper import Wrapper


def _call_takes(layer, name):
    """Whether layer's call takes the argument `name` (Keras's _call_has_training_arg / _mask_arg)."""
    if base._traces_call(type(layer)):
        return name in inspect.signature(layer.call).parameters
    return name in layer.call_keywords


@register
class TimeDistributed(TakesMask, Wrapper):  # Keras's call takes mask= (its files write `"mask": null`)
    supports_masking = True
    supports_variable_length = True  # the op reads the timesteps per call (a None time axis)

    def __init__(self, layer, **kw):
        if not isinstance(layer, Layer):
            raise ValueError(f"Please initialize `TimeDistributed` layer with a `keras.layers.Layer` instance. "
                             f"Received: {layer!r}")
        super().__init__(layer, **kw)

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
        if not self.layer.built:  # as a call builds it (a subclassed model's build() and trace, once)
            self._step_call((None,) + tuple(input_shape[2:]), {})
            self.layer.built = True
        self._weights = self.layer.weights
        self.built = True

    def compute_output_shape(self, input_shape):
        # what a call on one timestep gives (a custom call() or a model has no compute_output_shape of its own)
        inner = self._step_call((None,) + tuple(input_shape[2:]), {})[1].shape
        return (input_shape[0], input_shape[1]) + tuple(inner[1:])

    def _step_call(self, step_shape, kwargs):
        """The wrapped layer called on a placeholder of one timestep: (placeholder, output, the nodes
        the call made), its inbound nodes undone."""
        step_in = KerasTensor(tuple(step_shape), name=f"{self.name}/step_in")
        trace = tracing.Trace(None)
        with trace:
            step_out = self.layer(step_in, **kwargs)
        trace.discard()
        if not isinstance(step_out, KerasTensor):
            raise ValueError(f"TimeDistributed {self.name!r}: the wrapped layer must have a single output")
        return step_in, step_out, trace.nodes

    def lower(self, prog, inputs, outputs):
        x_kt = prog.node.inputs[0]
        if prog.input_mask_id() >= 0 and base._traces_call(type(self.layer)) and _call_takes(self.layer, "mask"):
            raise NotImplementedError(f"TimeDistributed {self.name!r}: the wrapped layer's call() takes a mask; "
                                      "passing each timestep's mask to it is not supported")
        kwargs = {}
        training = prog.node.call_kwargs.get("training")
        if training is not None and _call_takes(self.layer, "training"):
            kwargs["training"] = training
        step_in, step_out, nodes = self._step_call((None,) + tuple(x_kt.shape[2:]), kwargs)
        sub = prog.folded()
        local_in = sub.tensor(step_in)
        sub.no_activity_penalty = {id(n) for n in nodes if n.layer is self.layer and n.inputs == [step_in]}
        local_out = sub.lower_graph([(step_in, local_in)], nodes, [step_out])[0][0]
        if local_in in (local_out, sub.native.view_of(local_out)):  # a pure reshape: the same buffer, viewed
            return [prog.view(inputs[0], outputs[0])]
        out = prog.tensor(outputs[0])
        fold = prog.native.n_ops
        prog.native.add_time_distributed(sub.native, inputs[0], out, local_in, local_out, x_kt.shape[1] or 0)
        for layer, op in sub.trainable_shaped:  # an inner op's index: the path to it inside the folding op
            at, path = op if isinstance(op, tuple) else (op, [])
            prog.trainable_shaped.append((layer, (fold, [at] + list(path))))
        prog.call_training = prog.call_training or sub.call_training
        return [out]
