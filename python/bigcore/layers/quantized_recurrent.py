"""int8 LSTM and GRU for inference (cpp/qrecurrent.h): the float layers' time loop, masking and
cell kernels, with the input projection (one GEMM over every timestep) and the per-step recurrent
matmul run as exact int8 GEMMs. Weights: kernel (D, G*U) and recurrent_kernel (U, G*U) int8 with
one float32 scale per output column each (kernel_scale, recurrent_scale); the bias stays float32.
The input is quantized per row (per sample and timestep) at run time, or with a calibrated
`activation_scale`; the hidden state is always quantized per row at every step (qrecurrent.h says
why). Made by bigcore.quantization.quantize(); training them is refused.
"""

import math

from bigcore import activations
from bigcore._native import _core
from bigcore.layers.recurrent import GRU, LSTM
from bigcore.layers.registry import register


class _QuantizedRNN:
    """Mixed in before LSTM / GRU: int8 weights held by the native op, not the parameter arena."""

    def __init__(self, units, activation_scale=0.0, **kw):
        super().__init__(units, **kw)
        scale = float(activation_scale)
        if not (scale == 0.0 or (math.isfinite(scale) and scale > 0.0)):
            raise ValueError(f"{type(self).__name__}: activation_scale must be 0 (per-row dynamic) or a finite "
                             f"positive float. Received: activation_scale={activation_scale!r}")
        self.activation_scale = scale

    def build(self, input_shape):
        GU, U = self.gates * self.units, self.units
        self.kernel = self.add_weight("kernel", (input_shape[-1], GU), "zeros", trainable=False, dtype="int8")
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (U, GU), "zeros", trainable=False, dtype="int8")
        if self.use_bias:
            self.bias = self.add_weight("bias", self._bias_shape(), "zeros", trainable=False)
        self.kernel_scale = self.add_weight("kernel_scale", (GU,), "ones", trainable=False)
        self.recurrent_scale = self.add_weight("recurrent_scale", (GU,), "ones", trainable=False)
        self.built = True

    def _lower_rnn(self, prog, x, mask, states, outputs):
        x_kt = prog.node.inputs[0]
        outs = [prog.tensor(kt) for kt in outputs]
        T, D = x_kt.shape[1] or 0, x_kt.shape[2]  # T 0: variable length, read per call by the op
        _core.add_qrecurrent(
            prog.native, self.kind, x, mask, outs, self.kernel.value, self.kernel_scale.value,
            self.recurrent_kernel.value, self.recurrent_scale.value, prog.param(self.bias) if self.use_bias else -1,
            D, self.units, T, activations.native_id(self.activation),
            activations.native_id(self.recurrent_activation), self.return_sequences, self.return_state,
            self.go_backwards, self.zero_output_for_mask, self._output_in_input_order, self.activation_scale, states)
        return outs

    def get_config(self):
        return {**super().get_config(), "activation_scale": self.activation_scale}


@register
class QuantizedLSTM(_QuantizedRNN, LSTM):
    """An LSTM whose kernel and recurrent kernel are int8 (gates i, f, c, o as LSTM)."""


@register
class QuantizedGRU(_QuantizedRNN, GRU):
    """A GRU (reset_after=True) whose kernel and recurrent kernel are int8 (gates z, r, h as GRU)."""

    def __init__(self, units, reset_after=True, **kw):
        if not reset_after:
            raise NotImplementedError("QuantizedGRU: int8 quantization of a GRU with reset_after=False is not "
                                      "supported (only Keras's default reset_after=True); keep that layer float")
        super().__init__(units, reset_after=reset_after, **kw)
