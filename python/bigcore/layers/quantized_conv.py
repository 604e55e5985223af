"""int8 Conv1D / Conv2D for inference (cpp/ops/qconv.h), made by bigcore.quantization.quantize().

The kernel keeps Keras's shape (*kernel_size, C, filters) as int8 with one float32 scale per filter;
each window of the input (an im2col row) is quantized at run time with its own scale, or with a
calibrated `activation_scale`, and goes through the exact int8 GEMM, so every CPU path gives the
same answer. Grouped convolutions stay float.
"""

import math

from bigcore.layers import activation_fn
from bigcore.layers.base import shape_str
from bigcore.layers.convolutional import Conv1D, Conv2D
from bigcore.layers.registry import register

_FLOAT_ONLY = ("kernel_initializer", "kernel_regularizer", "kernel_constraint")


class _QuantizedConv:
    """Mixed into a float Conv class: int8 kernel, per-filter scales, the int8 op."""

    def _init_quantized(self, activation_scale):
        if self.groups != 1:
            raise ValueError(f"{type(self).__name__}: only groups=1 convolutions are quantized, got groups={self.groups}")
        self.activation_scale = float(activation_scale)  # 0: per-window dynamic

    def build(self, input_shape):
        shape = self.kernel_size + (input_shape[-1], self.filters)
        self.kernel = self.add_weight("kernel", shape, "zeros", trainable=False, dtype="int8")
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer, trainable=False)
        self.kernel_scale = self.add_weight("kernel_scale", (self.filters,), "ones", trainable=False)
        self.built = True

    def fusable_activation(self):
        return None

    def lower(self, prog, inputs, outputs):
        if None in prog.node.inputs[0].shape[1:]:
            raise ValueError(f"{type(self).__name__} {self.name!r}: the int8 convolution needs a fixed length; its "
                             f"input has shape {shape_str(prog.node.inputs[0].shape)}. Give the Input a fixed length "
                             "or keep this layer float")
        b = prog.param(self.bias) if self.use_bias else -1
        geom = self.geometry(prog.node.inputs[0].shape, outputs[0].shape)
        wq = self.kernel.value.reshape(math.prod(self.kernel.shape[:-1]), self.filters)
        return activation_fn.lower(prog, self, outputs[0], lambda out, act: prog.native.add_qconv(
            inputs[0], out, wq, self.kernel_scale.value, b, geom, act, self.activation_scale))

    def get_config(self):
        cfg = super().get_config()
        for key in _FLOAT_ONLY:
            cfg.pop(key, None)
        return {**cfg, "activation_scale": self.activation_scale}


@register
class QuantizedConv1D(_QuantizedConv, Conv1D):
    def __init__(self, filters, kernel_size, activation_scale=0.0, **kw):
        for key in _FLOAT_ONLY:
            kw.pop(key, None)
        Conv1D.__init__(self, filters, kernel_size, **kw)
        self._init_quantized(activation_scale)


@register
class QuantizedConv2D(_QuantizedConv, Conv2D):
    def __init__(self, filters, kernel_size, activation_scale=0.0, **kw):
        for key in _FLOAT_ONLY:
            kw.pop(key, None)
        Conv2D.__init__(self, filters, kernel_size, **kw)
        self._init_quantized(activation_scale)
