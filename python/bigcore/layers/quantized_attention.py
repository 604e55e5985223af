"""int8 EinsumDense and attention projections for inference (made by bigcore.quantization.quantize).

QuantizedEinsumDense keeps its kernel int8 in Keras's kernel shape ((D, heads, head_dim), ...)
with a float32 scale per output column of the (K, N) matrix it is, and runs the exact int8 GEMM of
QuantizedDense (cpp/kernels/quant). QuantizedMultiHeadAttention and QuantizedGroupQueryAttention
are the float layers with their four projections made so; the attention products themselves stay
float (the fused attention op).
"""

import math

from bigcore.layers import activation_fn
from bigcore.layers.attention import GroupQueryAttention, MultiHeadAttention
from bigcore.layers.einsum_dense import EinsumDense
from bigcore.layers.registry import register


@register
class QuantizedEinsumDense(EinsumDense):
    def __init__(self, equation, output_shape, activation_scale=0.0, **kw):
        for key in ("kernel_initializer", "kernel_regularizer", "kernel_constraint"):
            kw.pop(key, None)
        super().__init__(equation, output_shape, **kw)
        self.activation_scale = float(activation_scale)  # 0: per-row dynamic

    def build(self, input_shape):
        kernel_shape, bias_shape, full, K, N, n_new = self._analyze(input_shape)
        self.kernel = self.add_weight("kernel", kernel_shape, "zeros", trainable=False, dtype="int8")
        if bias_shape is not None:
            self.bias = self.add_weight("bias", bias_shape, self.bias_initializer, trainable=False)
        self.kernel_scale = self.add_weight("kernel_scale", (N,), "ones", trainable=False)
        self._K, self._N, self._n_new = K, N, n_new
        self.full_output_shape = full
        self.built = True

    def fusable_activation(self):
        return None

    def lower(self, prog, inputs, outputs):
        b = prog.param(self.bias) if self.bias is not None else -1
        return activation_fn.lower(prog, self, outputs[0], lambda out, act: prog.native.add_qdense(
            inputs[0], out, self.kernel.value.reshape(self._K, self._N), self.kernel_scale.value, b, act,
            self.activation_scale))

    def get_config(self):
        cfg = super().get_config()
        for key in ("kernel_initializer", "kernel_regularizer", "kernel_constraint"):
            cfg.pop(key, None)
        return {**cfg, "activation_scale": self.activation_scale}


class _QuantizedProjections:
    """Builds the four projections as QuantizedEinsumDense (dynamic activation scales)."""

    def _sublayer(self, name, equation, output_shape, bias_axes, input_shape):
        layer = QuantizedEinsumDense(equation, output_shape=output_shape, bias_axes=bias_axes if self.use_bias else None,
                                     bias_initializer=self.bias_initializer, name=name)
        with self._open_name_scope():  # Keras's path: "mha/query/kernel", also when built outside build()
            layer.build(tuple(input_shape))
        self._weights.extend(layer.weights)
        return layer

    def get_config(self):
        cfg = super().get_config()
        for key in ("kernel_initializer", "kernel_regularizer", "kernel_constraint"):
            cfg.pop(key, None)
        return cfg


@register
class QuantizedMultiHeadAttention(_QuantizedProjections, MultiHeadAttention):
    def __init__(self, num_heads, key_dim, **kw):
        for key in ("kernel_initializer", "kernel_regularizer", "kernel_constraint", "activation_scale"):
            kw.pop(key, None)
        super().__init__(num_heads, key_dim, **kw)
        self.trainable = False


@register
class QuantizedGroupQueryAttention(_QuantizedProjections, GroupQueryAttention):
    def __init__(self, head_dim, num_query_heads, num_key_value_heads, **kw):
        for key in ("kernel_initializer", "kernel_regularizer", "kernel_constraint", "activation_scale"):
            kw.pop(key, None)
        super().__init__(head_dim, num_query_heads, num_key_value_heads, **kw)
        self.trainable = False


def int8_kernel_matrix(layer):
    """An EinsumDense's kernel as the (K, N) float matrix its GEMM multiplies by."""
    return layer.kernel.value.reshape(layer._K, math.prod(layer.kernel.shape) // layer._K)
