"""Sparse Dense layers for inference (cpp/sparse.h): the weights and config of Dense / QuantizedDense,
run by a kernel that skips the kernel's zeros. Built by `bigcore.sparse_select.sparsify(model)`, which
keeps them only where they are faster on this CPU; a saved model loads them back by class name.

The layer keeps the kernel (K, N) as an ordinary weight, zeros included, so get_weights / set_weights
and files are those of the dense layer; the native op compresses it when the model is lowered.
"""

from bigcore._native import _core
from bigcore.layers import activation_fn
from bigcore.layers.core import Dense
from bigcore.layers.quantized import QuantizedDense
from bigcore.layers.registry import register

MAX_INPUT_DIM = 65535  # kSparseMaxK: the kernel's 16-bit row indices


def _check_input_dim(layer, K):
    if K > MAX_INPUT_DIM:
        raise ValueError(f"{type(layer).__name__} {layer.name!r} supports an input dimension of at most "
                         f"{MAX_INPUT_DIM}, got {K}")


@register
class SparseDense(Dense):
    """Dense for inference with a float32 kernel stored sparse: y = act(x @ W + b), skipping W's zeros.
    Results equal Dense's up to float round-off (sums run in another order). Training is refused."""

    def build(self, input_shape):
        super().build(input_shape)
        _check_input_dim(self, self.kernel.shape[0])
        # Held by the op, not the arena (like QuantizedDense's int8 kernel): not trainable.
        self.kernel.trainable = False
        if self.use_bias:
            self.bias.trainable = False

    def fusable_activation(self):
        return None

    def lower(self, prog, inputs, outputs):
        b = prog.param(self.bias) if self.use_bias else -1
        return activation_fn.lower(prog, self, outputs[0], lambda out, act: _core.add_sparse_dense(
            prog.native, inputs[0], out, self.kernel.value, b, act))

    def sparsity(self):
        """The fraction of zeros in the kernel."""
        return _zero_fraction(self.kernel.value)


@register
class QuantizedSparseDense(QuantizedDense):
    """QuantizedDense whose int8 kernel is stored sparse; bit-equal outputs (the int32 sums are exact)."""

    def build(self, input_shape):
        super().build(input_shape)
        _check_input_dim(self, self.kernel.shape[0])

    def lower(self, prog, inputs, outputs):
        b = prog.param(self.bias) if self.use_bias else -1
        return activation_fn.lower(prog, self, outputs[0], lambda out, act: _core.add_qsparse_dense(
            prog.native, inputs[0], out, self.kernel.value, self.kernel_scale.value, b, act, self.activation_scale))

    def sparsity(self):
        return _zero_fraction(self.kernel.value)


def _zero_fraction(w):
    return float((w == 0).sum()) / w.size if w.size else 0.0
