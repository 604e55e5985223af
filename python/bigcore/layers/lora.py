"""LoRA, as Keras 3's `layer.enable_lora(rank)` on Dense, EinsumDense and Embedding.

The layer's weight W (kernel or embeddings) is frozen and two trainable weights a (in, rank) and
b (rank, out) are added; the layer computes with W + (lora_alpha / rank) * a @ b. Natively the
layer's own op runs on the frozen W (with no activation), and the low-rank path, recorded with
bigcore.ops on placeholders, adds scale * (x a) b and then applies the activation: one native
call per batch still, no Python per step. Saved in Keras's layout, the layer writes the merged W
(Keras's save_own_variables) and reading a file sets W and zeroes a and b (load_own_variables).
"""

import numpy as np

from bigcore import activations, initializers
from bigcore.layers import base, tracing
from bigcore.layers.base import KerasTensor


def enable(layer, weight, constrained, rank, lora_alpha, a_initializer, b_initializer, a_shape, b_shape, names,
           regularizer):
    """Keras's enable_lora checks, then the two new weights (returned); `weight` is frozen."""
    if constrained:
        raise ValueError(constrained)
    if not layer.built:
        raise ValueError("Cannot enable lora on a layer that isn't yet built.")
    if layer.lora_enabled:
        raise ValueError("lora is already enabled. This can only be done once per layer.")
    if weight.dtype != np.float32:
        raise NotImplementedError(f"Layer {layer.name!r} ({type(layer).__name__}) is int8-quantized; bigcore "
                                  "enables lora on float layers only (enable it before quantizing)")
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or rank <= 0:
        raise ValueError(f"Layer {layer.name!r}: enable_lora expects a positive integer rank. Received: rank={rank!r}")
    a = layer.add_weight(names[0], a_shape, initializers.get(a_initializer), regularizer)
    b = layer.add_weight(names[1], b_shape, initializers.get(b_initializer), regularizer)
    weight.trainable = False
    layer.lora_enabled = True
    layer.lora_rank = int(rank)
    layer.lora_alpha = lora_alpha if lora_alpha is not None else int(rank)
    base.structure_changed()  # programs lowered before compute without the low-rank path
    return a, b


class KernelLora:
    """Keras's `kernel` property and `enable_lora` of a layer with one kernel (Dense, EinsumDense): the
    kernel Weight lives in `_kernel`; a is (the kernel's axes but the last, rank), b (rank, its last)."""

    @property
    def kernel(self):
        """The kernel Weight; with lora enabled, Keras's merged kernel W + (alpha / rank) a @ b (an array)."""
        if self.__dict__.get("lora_enabled"):
            return merged(self, self._kernel, self.lora_kernel_a, self.lora_kernel_b)
        return self.__dict__.get("_kernel")

    @kernel.setter
    def kernel(self, value):
        self.__dict__["_kernel"] = value

    def enable_lora(self, rank, lora_alpha=None, a_initializer="he_uniform", b_initializer="zeros"):
        """Keras's: freezes the kernel and adds trainable lora_kernel_a and lora_kernel_b."""
        msg = ("Lora is incompatible with kernel constraints. In order to enable lora on this layer, remove the "
               "`kernel_constraint` argument.") if self.kernel_constraint else None
        shape = self._kernel.shape if self._kernel is not None else (0,)
        self.lora_kernel_a, self.lora_kernel_b = enable(
            self, self._kernel, msg, rank, lora_alpha, a_initializer, b_initializer, shape[:-1] + (rank,),
            (rank, shape[-1]), ("lora_kernel_a", "lora_kernel_b"), self.kernel_regularizer)


def scale(layer):
    return layer.lora_alpha / layer.lora_rank


def merged(layer, weight, a, b):
    """W + scale * a @ b as a numpy array of W's shape (Keras's `kernel` / `embeddings` property)."""
    w = weight.numpy()
    delta = a.numpy().reshape(-1, layer.lora_rank) @ b.numpy()
    return (w + np.float32(scale(layer)) * delta.reshape(w.shape)).astype(np.float32)


def lower(prog, layer, z, delta, activation=None):
    """The native id of act(z + scale * delta(x)): z the native output of the layer's op on the frozen
    weight (no activation), x the call's first input; delta records the low-rank path with bigcore.ops."""
    node = prog.node
    x_kt, y_kt = node.inputs[0], node.outputs[0]
    ph_x = KerasTensor(x_kt.shape, x_kt.dtype, name=f"{layer.name}/lora_input", dims=x_kt._dims,
                       batched=x_kt._batched)
    ph_z = KerasTensor(y_kt.shape, y_kt.dtype, name=f"{layer.name}/frozen_output", dims=y_kt._dims,
                       batched=y_kt._batched)
    trace = tracing.Trace(layer)
    try:
        with trace:
            y = ph_z + scale(layer) * delta(base._ops(), ph_x)
            if activation is not None and activations.is_custom(activation):
                y = activation(y)
            elif activation is not None and activation != "linear":
                y = activations.get_function(activation)(y)
        nodes = tracing.check_closed(layer, trace, {id(ph_x), id(ph_z)}, [y])
        outs, _ = prog.lower_graph([(ph_x, prog.id(x_kt)), (ph_z, z)], nodes, [y])
    finally:
        trace.discard()
    return outs[0]


def parts(layer):
    """(frozen weight, a, b) of a layer with lora enabled."""
    if hasattr(layer, "lora_embeddings_a"):
        return layer._embeddings, layer.lora_embeddings_a, layer.lora_embeddings_b
    return layer._kernel, layer.lora_kernel_a, layer.lora_kernel_b


def saved_weights(layer):
    """[(weight, get, put)] in Keras's save_own_variables layout: the merged weight in the frozen
    one's place, a and b left out; put sets the frozen weight and zeroes a and b (load_own_variables)."""
    frozen, a, b = parts(layer)

    def put(value):
        frozen.assign(value)
        a.assign(np.zeros(a.shape, np.float32))
        b.assign(np.zeros(b.shape, np.float32))

    return [(w, lambda: merged(layer, frozen, a, b), put) if w is frozen else (w, w.numpy, w.assign)
            for w in layer.weights if w is not a and w is not b]


def refuse(layer, what):
    """A clear error for what bigcore does not do with a LoRA layer (int8 quantization, ONNX export)."""
    if getattr(layer, "lora_enabled", False):
        raise NotImplementedError(f"{what}: layer {layer.name!r} ({type(layer).__name__}) has lora enabled, which "
                                  "bigcore does not support here; save and load the model (Keras's format keeps the "
                                  "merged weight) or rebuild it without lora first")
