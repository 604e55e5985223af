"""The activation layers that take numbers: ReLU, LeakyReLU, PReLU, ELU, Softmax (cpp/ops/pointwise.h).
All pass a mask on, as Keras's do."""

import math

import numpy as np

from bigcore import constraints, initializers, regularizers
from bigcore.layers.base import Layer, shape_str
from bigcore.layers.masking import TakesMask
from bigcore.layers.registry import register


def _number(value, name, layer, minimum=None, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (minimum is not None and value < minimum):
        raise ValueError(f"{name} of a {layer} layer cannot be None or a negative value. Received: {name}={value!r}")
    return float(value)


@register
class ReLU(Layer):
    supports_variable_length = True  # elementwise / per row: the op reads the size per call
    supports_masking = True

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kw):
        super().__init__(**kw)
        self.max_value = _number(max_value, "max_value", "ReLU", 0.0, allow_none=True)
        self.negative_slope = _number(negative_slope, "negative_slope", "ReLU", 0.0)
        self.threshold = _number(threshold, "threshold", "ReLU", 0.0)

    @property
    def plain_relu(self):
        """max(x, 0) alone: a normalization right before may apply it itself (models/lowering.py)."""
        return self.max_value is None and self.negative_slope == 0.0 and self.threshold == 0.0

    def lower(self, prog, inputs, outputs):
        out = prog.tensor(outputs[0])
        prog.native.add_relu(inputs[0], out, self.negative_slope,
                             -1.0 if self.max_value is None else self.max_value, self.threshold)
        return [out]

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value, "negative_slope": self.negative_slope,
                "threshold": self.threshold}


@register
class LeakyReLU(Layer):
    supports_variable_length = True  # elementwise / per row: the op reads the size per call
    supports_masking = True

    def __init__(self, negative_slope=0.3, **kw):
        if "alpha" in kw:  # Keras 2's name
            negative_slope = kw.pop("alpha")
        super().__init__(**kw)
        self.negative_slope = _number(negative_slope, "negative_slope", "Leaky ReLU", 0.0)

    def lower(self, prog, inputs, outputs):
        out = prog.tensor(outputs[0])
        prog.native.add_relu(inputs[0], out, self.negative_slope, -1.0, 0.0)
        return [out]

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


@register
class ELU(Layer):
    supports_variable_length = True  # elementwise / per row: the op reads the size per call
    supports_masking = True

    def __init__(self, alpha=1.0, **kw):
        super().__init__(**kw)
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
            raise ValueError(f"ELU: alpha must be a number. Received: alpha={alpha!r}")
        self.alpha = float(alpha)

    def lower(self, prog, inputs, outputs):
        out = prog.tensor(outputs[0])
        prog.native.add_elu(inputs[0], out, self.alpha)
        return [out]

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


@register
class PReLU(Layer):
    """y = x for x >= 0, alpha * x below; alpha has the input's shape (batch left out) with 1 on the
    shared axes."""
    supports_masking = True

    def __init__(self, alpha_initializer="Zeros", alpha_regularizer=None, alpha_constraint=None, shared_axes=None,
                 **kw):
        super().__init__(**kw)
        self.alpha_initializer = initializers.get(alpha_initializer)
        self.alpha_regularizer = regularizers.get(alpha_regularizer)
        self.alpha_constraint = constraints.get(alpha_constraint)
        if shared_axes is None:
            self.shared_axes = None
        else:
            axes = list(shared_axes) if isinstance(shared_axes, (list, tuple)) else [shared_axes]
            if not all(isinstance(a, int) and not isinstance(a, bool) and a >= 1 for a in axes):
                raise ValueError(f"PReLU: shared_axes are input axes >= 1 (the batch axis is 0). "
                                 f"Received: shared_axes={shared_axes!r}")
            self.shared_axes = axes
        self.alpha = None

    def build(self, input_shape):
        shape = list(input_shape[1:])
        if any(s is None for s in shape):
            raise ValueError(f"PReLU {self.name!r} needs known input sizes, got {shape_str(input_shape)}")
        for i in self.shared_axes or []:
            if i > len(shape):
                raise ValueError(f"PReLU {self.name!r}: shared axis {i} is out of range for input "
                                 f"{shape_str(input_shape)}")
            shape[i - 1] = 1
        self.alpha = self.add_weight("alpha", tuple(shape), self.alpha_initializer, self.alpha_regularizer,
                                     constraint=self.alpha_constraint)
        self.built = True

    def _check_input(self, shape):
        if self.alpha is not None and (len(shape) - 1 != len(self.alpha.shape) or any(
                a not in (1, s) for a, s in zip(self.alpha.shape, shape[1:]))):
            raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: alpha has shape '
                             f"{self.alpha.shape}, input {shape_str(shape)}")

    def lower(self, prog, inputs, outputs):
        out = prog.tensor(outputs[0])
        shape = tuple(outputs[0].shape[1:])
        index = np.broadcast_to(np.arange(math.prod(self.alpha.shape), dtype=np.int32).reshape(self.alpha.shape),
                                shape).reshape(-1)
        prog.native.add_prelu(inputs[0], out, prog.param(self.alpha), index.tolist(), math.prod(self.alpha.shape))
        return [out]

    def get_config(self):
        return {**super().get_config(), "alpha_initializer": initializers.serialize(self.alpha_initializer),
                "alpha_regularizer": regularizers.serialize(self.alpha_regularizer),
                "alpha_constraint": constraints.serialize(self.alpha_constraint), "shared_axes": self.shared_axes}


@register
class Softmax(TakesMask, Layer):
    """Softmax over `axis` (an int). A mask of the input's shape (e.g. (batch, T) scores with an
    Embedding's mask) sends masked values to 0, as Keras; a mask that does not broadcast raises."""
    supports_masking = True
    supports_variable_length = True  # one run-time length, on the axis or before it (the op reads it)

    def __init__(self, axis=-1, **kw):
        super().__init__(**kw)
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ValueError(f"Softmax: only a single int axis is supported. Received: axis={axis!r}")
        self.axis = axis

    def _check_input(self, shape):
        if not -len(shape) < self.axis < len(shape) or self.axis % len(shape) == 0:
            raise ValueError(f"Softmax {self.name!r}: axis {self.axis} is not a feature axis of an input of shape "
                             f"{shape_str(shape)}")

    def lower(self, prog, inputs, outputs):
        out = prog.tensor(outputs[0])
        kt = prog.node.inputs[0]
        dims = list(kt.shape[1:])
        ax = self.axis % len(kt.shape) - 1
        mask = prog.input_mask_id()
        mkt = prog.node.call_kwargs.get("mask")
        mkt = kt._mask if mkt is None else mkt  # `or` would ask a symbolic tensor for a truth value
        if mask >= 0 and tuple(mkt.shape[1:]) != tuple(dims):
            raise ValueError(f"The `mask` must be broadcastable to `inputs`. Received: inputs.shape="
                             f"{shape_str(kt.shape)}, mask.shape={shape_str(mkt.shape)}")
        outer, n, inner = dims[:ax], dims[ax], dims[ax + 1:]
        if None in inner or (None in outer and n is None):
            raise ValueError(f"Softmax {self.name!r}: one run-time length, on the axis or before it, is supported; "
                             f"got {shape_str(kt.shape)} for axis {self.axis}")
        # 0: the op reads that size per call
        prog.native.add_softmax(inputs[0], out, mask, 0 if None in outer else math.prod(outer), n or 0,
                                math.prod(inner))
        return [out]

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
