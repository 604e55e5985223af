"""int8 Dense for inference (cpp/quant.h): QuantizedDense and the per-column weight quantizer.

The kernel is int8 (K, N) with a float32 scale per output column; the input is quantized per row
at run time, or with a calibrated `activation_scale`. The int8 x int8 -> int32 GEMM is exact, so
every CPU path gives the same answer. Made by bigcore.quantization.quantize(); the int8 LSTM and
GRU are in quantized_recurrent.py.
"""

import numpy as np

from bigcore._native import _core
from bigcore.layers import activation_fn
from bigcore.layers.core import Dense
from bigcore.layers.registry import register


@register
class QuantizedDense(Dense):
    """A Dense layer whose kernel is int8 (K, N) with a float32 scale per output column."""

    def __init__(self, units, activation_scale=0.0, **kw):
        for key in ("kernel_initializer", "kernel_regularizer", "kernel_constraint"):
            kw.pop(key, None)
        super().__init__(units, **kw)
        self.activation_scale = float(activation_scale)  # 0: per-row dynamic

    def build(self, input_shape):
        K = input_shape[-1]
        self.kernel = self.add_weight("kernel", (K, self.units), "zeros", trainable=False, dtype="int8")
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.units,), self.bias_initializer, trainable=False)
        self.kernel_scale = self.add_weight("kernel_scale", (self.units,), "ones", trainable=False)
        self.built = True

    def fusable_activation(self):
        return None

    def lower(self, prog, inputs, outputs):
        b = prog.param(self.bias) if self.use_bias else -1
        return activation_fn.lower(prog, self, outputs[0], lambda out, act: prog.native.add_qdense(
            inputs[0], out, self.kernel.value, self.kernel_scale.value, b, act, self.activation_scale))

    def get_config(self):
        cfg = super().get_config()
        for key in ("kernel_initializer", "kernel_regularizer", "kernel_constraint"):
            cfg.pop(key, None)
        return {**cfg, "activation_scale": self.activation_scale}


def quantize_weights(kernel):
    """float (K, N) -> (int8 (K, N), float32 scales (N)) by the per-column symmetric rule of quant.h."""
    q = _core.QLinear(np.ascontiguousarray(kernel, dtype=np.float32))
    return q.weights_q(), q.scales()
