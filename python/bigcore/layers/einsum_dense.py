"""EinsumDense: a Dense layer written as an einsum equation, as Keras's (the projections of
MultiHeadAttention and of most Transformer code).

Natively it is one GEMM with a fused bias and activation, so bigcore runs the equations that are
one: the input's axes are free axes followed by the contracted ones, the kernel's are the
contracted axes (in the input's order) followed by new ones, and the output's are the free axes
followed by the new ones ("abc,cde->abde", "abcd,cde->abe", "...b,bc->...c", "btd,dnh->btnh").
Others raise a ValueError that says so. The bias covers every new axis, in order ("de"), as
Keras's MultiHeadAttention uses it.
"""

import math
import re

from bigcore import activations, constraints, initializers, regularizers
from bigcore.layers import activation_fn, lora
from bigcore.layers.base import Layer, shape_str
from bigcore.layers.registry import register


def parse_equation(equation, bias_axes, input_shape, output_shape, name):
    """(kernel_shape, bias_shape or None, full output shape, K, N, number of new axes) for a
    GEMM-shaped equation."""
    if not isinstance(equation, str):
        raise ValueError(f"EinsumDense {name!r}: equation must be a string. Received: equation={equation!r}")
    eq = equation.replace(" ", "")
    left = eq.startswith("...")
    m = re.fullmatch(r"(?:\.\.\.)?([a-zA-Z]+),([a-zA-Z]+)->(?:\.\.\.)?([a-zA-Z]+)", eq)
    if not m or left != ("->..." in eq):
        raise ValueError(f"EinsumDense {name!r}: unsupported equation {equation!r}; bigcore runs equations of the "
                         "forms 'ab,bc->ac' and '...ab,bc->...ac' (an ellipsis on the left only)")
    x, w, y = m.groups()
    if any(len(set(s)) != len(s) for s in (x, w, y)):
        raise ValueError(f"EinsumDense {name!r}: a letter repeats within one operand of {equation!r}")
    contracted = [c for c in x if c in w and c not in y]
    free = [c for c in x if c in y and c not in w]
    new = [c for c in w if c in y and c not in x]
    gemm = (x == "".join(free + contracted) and w == "".join(contracted + new) and y == "".join(free + new)
            and len(contracted) > 0 and len(new) > 0)
    if not gemm:
        raise ValueError(
            f"EinsumDense {name!r}: equation {equation!r} is not one GEMM; bigcore needs the input's axes to be "
            "free axes then contracted ones, the kernel's the contracted axes (in the input's order) then new ones, "
            "and the output's the free axes then the new ones (as 'abc,cde->abde' or 'abcd,cde->abe')")
    input_shape = tuple(input_shape)
    elided = len(input_shape) - len(x)
    if elided < 0 or (elided > 0 and not left):
        raise ValueError(f"EinsumDense {name!r}: equation {equation!r} does not fit an input of shape "
                         f"{shape_str(input_shape)}")
    dims = dict(zip(x, input_shape[elided:]))
    partial = (output_shape,) if isinstance(output_shape, int) else tuple(output_shape)
    # As Keras: output_shape gives the output spec's axes after the batch (every axis of the spec
    # when an ellipsis on the left holds the batch).
    spec = y if left else y[1:]
    if len(partial) != len(spec):
        raise ValueError(f"EinsumDense {name!r}: output_shape {partial} must give the {len(spec)} output axes "
                         f"{'of' if left else 'after the batch of'} {equation!r}")
    out_dims = dict(zip(spec, partial))
    for c in new:
        if (c == y[0] and not left) or not isinstance(out_dims.get(c), int) or out_dims[c] <= 0:
            raise ValueError(f"EinsumDense {name!r}: output_shape must give a positive size for axis {c!r} of "
                             f"{equation!r}. Received: output_shape={output_shape}")
        dims[c] = out_dims[c]
    for c in free:
        if out_dims.get(c) is not None and dims[c] is not None and out_dims[c] != dims[c]:
            raise ValueError(f"Input shape and output shape do not match at shared dimension '{c}'. Input shape is "
                             f"{dims[c]}, and output shape is {out_dims[c]}.")
    for c in contracted:
        if dims[c] is None:
            raise ValueError(f"EinsumDense {name!r}: the contracted axis {c!r} needs a known size, got input shape "
                             f"{shape_str(input_shape)}")
    full = input_shape[:elided] + tuple(dims[c] for c in y)
    bias_shape = None
    if bias_axes:
        if any(c not in y for c in bias_axes):
            raise ValueError(f"Bias dimension '{next(c for c in bias_axes if c not in y)}' was requested, but is "
                             f"not part of the output spec '{y}'")
        if sorted(bias_axes, key=y.index) != new or bias_axes != "".join(new):
            raise ValueError(f"EinsumDense {name!r}: bias_axes must name every new output axis in order "
                             f"({''.join(new)!r}); got {bias_axes!r}")
        bias_shape = tuple(dims[c] for c in new)
    kernel_shape = tuple(dims[c] for c in w)
    return (kernel_shape, bias_shape, full, math.prod(dims[c] for c in contracted), math.prod(dims[c] for c in new),
            len(new))


@register
class EinsumDense(lora.KernelLora, Layer):
    supports_masking = True

    def __init__(self, equation, output_shape, activation=None, bias_axes=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, lora_rank=None, lora_alpha=None, gptq_unpacked_column_size=None,
                 quantization_config=None, activity_regularizer=None, **kw):
        super().__init__(**kw)
        for arg, v in (("gptq_unpacked_column_size", gptq_unpacked_column_size),
                       ("quantization_config", quantization_config)):
            if v is not None:
                raise ValueError(f"EinsumDense: {arg} is not supported by bigcore (use bigcore.quantization for int8). "
                                 f"Received: {arg}={v!r}")
        self.equation = equation
        self.partial_output_shape = (output_shape,) if isinstance(output_shape, int) else tuple(output_shape)
        self.bias_axes = bias_axes
        self.activation = activations.get(activation)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.kernel = self.bias = None
        self.lora_rank = lora_rank  # Keras: build() enables lora when the config gives a rank
        self.lora_alpha = lora_alpha if lora_alpha is not None else lora_rank
        self.lora_enabled = False
        self._K = self._N = self._n_new = None
        self.full_output_shape = None

    def _analyze(self, input_shape):
        return parse_equation(self.equation, self.bias_axes, input_shape, self.partial_output_shape, self.name)

    def build(self, input_shape):
        kernel_shape, bias_shape, full, K, N, n_new = self._analyze(input_shape)
        init = self.kernel_initializer
        if isinstance(init, initializers.VarianceScaling):
            # Keras gives EinsumDense's VarianceScaling the kernel's input and output axes: the fans
            # of the (K, N) matrix the kernel is.
            values = init((K, N)).reshape(kernel_shape)
            init = lambda shape, dtype="float32", v=values: v  # noqa: E731
        self.kernel = self.add_weight("kernel", kernel_shape, init, self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        if bias_shape is not None:
            self.bias = self.add_weight("bias", bias_shape, self.bias_initializer, self.bias_regularizer,
                                        constraint=self.bias_constraint)
        self._K, self._N, self._n_new = K, N, n_new
        self.full_output_shape = full
        self.built = True
        if self.lora_rank and not self.lora_enabled:
            self.enable_lora(self.lora_rank, lora_alpha=self.lora_alpha)

    def compute_output_shape(self, input_shape):
        return self._analyze(input_shape)[2]

    def _check_input(self, shape):
        if self._kernel is not None:
            kernel_shape = self._analyze(shape)[0]
            if kernel_shape != self._kernel.shape:
                raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: its kernel has '
                                 f"shape {self._kernel.shape}, but input shape {shape_str(shape)} needs "
                                 f"{kernel_shape}")

    def fusable_activation(self):
        return self.activation

    def lower(self, prog, inputs, outputs):
        b = prog.param(self.bias) if self.bias is not None else -1
        if self.lora_enabled:  # the op on the frozen kernel, then + scale einsum(x, a) b, then the activation
            z = prog.tensor(outputs[0])
            prog.native.add_dense(inputs[0], z, prog.param(self._kernel), b, self._K, self._N,
                                  activations.native_id("linear"))
            return [lora.lower(prog, self, z, lambda ops, x: ops.matmul(
                ops.einsum(self.equation, x, self.lora_kernel_a), self.lora_kernel_b), self.activation)]
        return activation_fn.lower(prog, self, outputs[0], lambda out, act: prog.native.add_dense(
            inputs[0], out, prog.param(self.kernel), b, self._K, self._N, act))

    def get_config(self):
        lora_keys = {"lora_rank": self.lora_rank, "lora_alpha": self.lora_alpha} if self.lora_rank else {}
        return {**super().get_config(), **lora_keys, "equation": self.equation, "output_shape": list(self.partial_output_shape),
                "activation": activations.serialize(self.activation), "bias_axes": self.bias_axes,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer),
                "activity_regularizer": regularizers.serialize(self.activity_regularizer),
                "kernel_constraint": constraints.serialize(self.kernel_constraint),
                "bias_constraint": constraints.serialize(self.bias_constraint)}
