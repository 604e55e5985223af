"""Core layers: Input, Dense, Activation, Dropout, Flatten, Reshape."""

import math

import numpy as np

from bigcore import _random, activations, constraints, initializers, regularizers
from bigcore.layers import activation_fn, base, dims, lora
from bigcore.layers.base import KerasTensor, Layer, Node, shape_str
from bigcore.layers.registry import register


@register
class InputLayer(Layer):
    output = None  # the input tensor itself (an attribute here, not Layer's inbound-node property)

    def __init__(self, shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None, input_tensor=None,
                 optional=False, name=None, **kw):
        super().__init__(name=name, **kw)
        if sparse:
            raise ValueError("Input(sparse=True) needs TensorFlow's sparse tensors; bigcore's inputs are dense arrays")
        if input_tensor is not None:
            raise ValueError("Input(tensor=...) wraps a backend tensor, which bigcore does not have; give shape= "
                             f"instead. Received: tensor={input_tensor!r}")
        if optional:
            raise ValueError("Input(optional=True) is not supported: every model input needs an array")
        if batch_shape is not None:  # Keras: batch_shape is (batch_size,) + shape
            if shape is not None or batch_size is not None:
                raise ValueError("Input: give either batch_shape, or shape (and batch_size), not both. Received: "
                                 f"shape={shape}, batch_size={batch_size}, batch_shape={batch_shape}")
            batch_shape = tuple(batch_shape)
            if not batch_shape:
                raise ValueError("Input: batch_shape needs the batch axis first, e.g. batch_shape=(None, 784)")
            batch_size, shape = batch_shape[0], batch_shape[1:]
        if shape is None:
            raise ValueError("Input needs a shape, e.g. Input(shape=(784,))")
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        for s in shape:
            if s is not None and (not isinstance(s, int) or s <= 0):
                raise ValueError(f"Input shape must hold positive ints or None. Received: shape={shape}")
        self.shape = shape
        self.batch_size = batch_size
        self.dtype = dtype or "float32"
        self.built = True
        # a length given as None is one the data gives per batch: a Dim of its own (layers/dims.py)
        lengths = tuple(dims.input_dim(f"{self.name}[{i + 1}]") if s is None else s for i, s in enumerate(shape))
        self.output = KerasTensor((batch_size,) + shape, self.dtype, name=self.name, dims=lengths)
        self.output.node = Node(self, [], [self.output])
        self.output_shape = self.output.shape

    def get_config(self):
        return {"name": self.name, "shape": self.shape, "batch_size": self.batch_size, "dtype": self.dtype}


def Input(shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None, name=None, tensor=None,
          optional=False):
    """A symbolic model input, as keras.Input."""
    return InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, sparse=sparse, batch_shape=batch_shape,
                      input_tensor=tensor, optional=optional, name=name).output


@register
class Dense(lora.KernelLora, Layer):
    supports_masking = True
    supports_variable_length = True  # its op reads the length per call (models/lowering.py)

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, lora_rank=None,
                 lora_alpha=None, **kw):
        super().__init__(**kw)
        if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
            raise ValueError(f"Received an invalid value for `units`, expected a positive integer. Received: units={units!r}")
        self.units = units
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
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

    def call(self, x):
        """Keras's Dense.call, as bigcore.ops (a subclass's call() that calls super().call(x) records
        it; the layer itself lowers to the fused native op)."""
        return self.call_unbatched(x)

    def call_unbatched(self, x):
        """A tensor without a batch axis (a state made with ops.zeros inside a custom call()):
        recorded with bigcore.ops, so that the program trains the weights."""
        ops = base._ops()
        y = ops.matmul(x, self._kernel)
        if self.lora_enabled:
            y = y + lora.scale(self) * ops.matmul(ops.matmul(x, self.lora_kernel_a), self.lora_kernel_b)
        if self.use_bias:
            y = y + self.bias
        act = self.activation
        if activations.is_custom(act):
            return act(y)
        return y if act == "linear" else activations.get_function(act)(y)

    def build(self, input_shape):
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(f"Dense {self.name!r} needs a known last input dimension, got {shape_str(input_shape)}")
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units), self.kernel_initializer,
                                      self.kernel_regularizer, constraint=self.kernel_constraint)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.units,), self.bias_initializer, self.bias_regularizer,
                                        constraint=self.bias_constraint)
        self.built = True
        if self.lora_rank and not self.lora_enabled:
            self.enable_lora(self.lora_rank, self.lora_alpha)

    def _check_input(self, shape):
        if self._kernel is not None and (len(shape) < 2 or shape[-1] != self._kernel.shape[0]):
            raise ValueError(
                f'Input 0 of layer "{self.name}" is incompatible with the layer: expected axis -1 of input '
                f"shape to have value {self._kernel.shape[0]}, but received input with shape {shape_str(shape)}")

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def fusable_activation(self):
        return self.activation

    def lower(self, prog, inputs, outputs):
        b = prog.param(self.bias) if self.use_bias else -1
        if self.lora_enabled:  # the op on the frozen kernel, then + scale (x a) b, then the activation
            z = prog.tensor(outputs[0])
            prog.native.add_dense(inputs[0], z, prog.param(self._kernel), b, self._kernel.shape[0], self.units,
                                  activations.native_id("linear"))
            return [lora.lower(prog, self, z, lambda ops, x: ops.matmul(ops.matmul(x, self.lora_kernel_a),
                                                                        self.lora_kernel_b), self.activation)]
        return activation_fn.lower(prog, self, outputs[0], lambda out, act: prog.native.add_dense(
            inputs[0], out, prog.param(self.kernel), b, self.kernel.shape[0], self.units, act))

    def get_config(self):
        lora_keys = {"lora_rank": self.lora_rank, "lora_alpha": self.lora_alpha} if self.lora_rank else {}
        return {**super().get_config(), **lora_keys, "units": self.units, "activation": activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer),
                "activity_regularizer": regularizers.serialize(self.activity_regularizer),
                "kernel_constraint": constraints.serialize(self.kernel_constraint),
                "bias_constraint": constraints.serialize(self.bias_constraint)}


@register
class Activation(Layer):
    supports_masking = True
    supports_variable_length = True  # its op reads the length per call (models/lowering.py)

    def __init__(self, activation, **kw):
        super().__init__(**kw)
        self.activation = activations.get(activation)

    def fusable_activation(self):
        return self.activation

    @property
    def plain_relu(self):
        """max(x, 0) alone: a normalization right before may apply it itself (models/lowering.py)."""
        return self.activation == "relu"

    def lower(self, prog, inputs, outputs):
        if activations.is_custom(self.activation):  # the function alone, on the input
            return [activation_fn.apply(prog, self, self.activation, prog.node.inputs[0], inputs[0])]
        out = prog.tensor(outputs[0])
        prog.native.add_activation(inputs[0], out, activations.native_id(self.activation),
                                   outputs[0].shape[-1])
        return [out]

    def get_config(self):
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


# The native noise op's kind for a draw per sample and channel (cpp/ops/noise.h), which
# SpatialDropout1D/2D (layers/noise.py) and Dropout with a channel noise_shape lower to.
SPATIAL_DROPOUT = 3


@register
class Dropout(Layer):
    supports_masking = True
    supports_variable_length = True  # its op reads the length per call (models/lowering.py)

    def __init__(self, rate, noise_shape=None, seed=None, **kw):
        super().__init__(**kw)
        if not isinstance(rate, (int, float)) or not 0 <= rate < 1:
            raise ValueError(f"Invalid value received for argument `rate`. Expected a float value "
                             f"between 0 and 1. Received: rate={rate!r}")
        if noise_shape is not None and (isinstance(noise_shape, (str, bytes)) or not all(
                d is None or (isinstance(d, int) and not isinstance(d, bool) and d > 0) for d in noise_shape)):
            raise ValueError(f"Dropout: noise_shape must be a tuple of positive ints or None. "
                             f"Received: noise_shape={noise_shape!r}")
        self.rate = float(rate)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self.seed = seed
        self._stream = seed if seed is not None else _random.next_stream()

    def _mask_kind(self, shape):
        """How the mask spreads over an input of `shape` (Keras: noise_shape's None axes are the input's):
        0 (a draw per value), or K > 0 (a draw per sample and each of the K values of the trailing axes
        that noise_shape keeps, the same over the axes of 1 before them: (None, 1, 1, C) is SpatialDropout's
        per channel, (None, 1, 1, 1) one draw per sample, stochastic depth's); any other noise_shape raises."""
        if self.noise_shape is None:
            return 0
        ns = self.noise_shape
        if len(ns) != len(shape):
            raise ValueError(f"Dropout {self.name!r}: noise_shape {ns} does not have the input's rank "
                             f"({shape_str(shape)})")
        given = [s if d is None else d for d, s in zip(ns, shape)]
        if ns[0] is None or ns[0] == shape[0]:
            if all(g == s for g, s in zip(given[1:], shape[1:])):
                return 0
            for j in range(2, len(shape) + 1):  # axes 1..j-1 of 1 (shared), the input's own sizes after (kept)
                rest = shape[j:]
                if all(g == 1 for g in given[1:j]) and all(g == s and s is not None for g, s in zip(given[j:], rest)):
                    return math.prod(rest)
        raise ValueError(f"Dropout {self.name!r}: noise_shape {ns} on an input of shape {shape_str(shape)} is not "
                         "supported yet; supported: the input's shape (None entries), or (None, 1, ..., 1, then the "
                         "input's own sizes) (a draw per sample and kept position, shared over the axes of 1: "
                         "SpatialDropout's (None, 1, 1, channels), stochastic depth's (None, 1, 1, 1))")

    def _check_input(self, shape):
        self._mask_kind(shape)

    def lower(self, prog, inputs, outputs):
        out = prog.tensor(outputs[0])
        shared = self._mask_kind(prog.node.inputs[0].shape)
        if shared:
            prog.native.add_noise(inputs[0], out, SPATIAL_DROPOUT, self.rate, shared, self._stream)
        else:
            prog.native.add_dropout(inputs[0], out, self.rate, self._stream)
        return [out]

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "noise_shape": self.noise_shape, "seed": self.seed}


@register
class Flatten(Layer):
    supports_variable_length = True  # a view: its length is the product of the input's (layers/dims.py)

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        n = None if any(s is None for s in rest) else math.prod(rest)
        return (input_shape[0], n)

    def _output_dims(self, shape, xs):
        return (dims.product(xs[0]._dims),)

    def lower(self, prog, inputs, outputs):
        return [prog.view(inputs[0], outputs[0])]  # row-major: the same buffer seen with another shape


@register
class Reshape(Layer):
    def __init__(self, target_shape, **kw):
        super().__init__(**kw)
        shape = (target_shape,) if isinstance(target_shape, (int, np.integer)) else target_shape
        try:
            shape = tuple(shape)
        except TypeError:
            raise TypeError(f"Reshape expects `target_shape` to be a tuple of ints. Received: "
                            f"target_shape={target_shape!r}") from None
        if any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < -1 for s in shape):
            raise ValueError("Each dimension in `target_shape` must be a non-negative integer, or `-1` for a single "
                             f"unknown dimension. Received: target_shape={target_shape!r}")
        if list(shape).count(-1) > 1:
            raise ValueError("There must be at most one unknown dimension (-1) in `target_shape`. Received: "
                             f"target_shape={target_shape!r}")
        self.target_shape = tuple(int(s) for s in shape)

    supports_variable_length = True  # a view; a run-time length goes to the -1 axis (_output_dims)

    def compute_output_shape(self, input_shape):
        if any(s is None for s in input_shape[1:]):  # the -1 axis takes the run-time length
            if -1 not in self.target_shape:
                raise ValueError(f"Reshape {self.name!r}: an input with a run-time length {shape_str(input_shape)} "
                                 f"needs -1 in target_shape for it. Received: target_shape={self.target_shape}")
            return (input_shape[0],) + tuple(None if s == -1 else s for s in self.target_shape)
        n = math.prod(input_shape[1:])
        shape = list(self.target_shape)
        if -1 in shape:
            known = math.prod(s for s in shape if s != -1)
            if known == 0 or n % known:
                raise ValueError(f"Reshape {self.name!r}: cannot reshape {shape_str(input_shape)} to {self.target_shape}")
            shape[shape.index(-1)] = n // known
        if math.prod(shape) != n:
            raise ValueError(f"Reshape {self.name!r}: cannot reshape {shape_str(input_shape)} to {self.target_shape}")
        return (input_shape[0],) + tuple(shape)

    def _output_dims(self, shape, xs):
        if -1 not in self.target_shape or not any(dims.is_dim(d) for d in xs[0]._dims):
            return super()._output_dims(shape, xs)
        known = math.prod(s for s in self.target_shape if s != -1)
        n = dims.exact_div(dims.product(xs[0]._dims), known)
        if n is None:
            raise ValueError(f"Reshape {self.name!r}: the input's {shape_str(xs[0].shape)} values per sample are not "
                             f"certainly a multiple of {known} for every run-time length, so target_shape="
                             f"{self.target_shape} cannot hold them")
        return tuple(n if s == -1 else s for s in self.target_shape)

    def lower(self, prog, inputs, outputs):
        return [prog.view(inputs[0], outputs[0])]

    def get_config(self):
        return {**super().get_config(), "target_shape": self.target_shape}
