"""LayerNormalization and RMSNormalization (Keras's names, arguments and weights).

Both normalize over a trailing block of axes (axis=-1, or e.g. [-2, -1]); natively one pass per
row (cpp/kernels/norm). When the input is an Add of two tensors that nothing else reads (the
residual "x + sublayer(x)" of a Transformer block), models/lowering.py hands both to the norm and
the add runs inside it (`fuse_residual`).
"""

import math

from bigcore import constraints, initializers, regularizers
from bigcore.layers.base import Layer, shape_str
from bigcore.layers.registry import register


def _norm_axes(layer, axis, input_shape):
    """The sorted positive axes; a trailing block of known size, else a ValueError."""
    rank = len(input_shape)
    axes = [axis] if isinstance(axis, int) else list(axis)
    for a in axes:
        if isinstance(a, bool) or not isinstance(a, int) or not -rank <= a < rank:
            raise ValueError(f"Axis {a} is out of bounds for input shape {shape_str(input_shape)}. "
                             f"Received: axis={axis}")
    pos = sorted(a % rank for a in axes)
    if 0 in pos:
        raise ValueError(f"{type(layer).__name__} {layer.name!r}: cannot normalize over the batch axis. "
                         f"Received: axis={axis}")
    if pos != list(range(rank - len(pos), rank)):
        raise ValueError(f"{type(layer).__name__} {layer.name!r}: bigcore normalizes over a trailing block of axes "
                         f"(e.g. -1, or [-2, -1]); got axis={axis} for input shape {shape_str(input_shape)}")
    if any(input_shape[a] is None for a in pos):
        raise ValueError(f"{type(layer).__name__} {layer.name!r}: the normalized axes need known sizes; got "
                         f"{shape_str(input_shape)}")
    return pos


def _check_axis_arg(axis):
    if isinstance(axis, (list, tuple)):
        return list(axis)
    if isinstance(axis, int) and not isinstance(axis, bool):
        return axis
    raise TypeError(f"Expected an int or a list/tuple of ints for the argument 'axis', but received: {axis!r}")


class _Norm(Layer):
    supports_masking = True
    supports_variable_length = True  # the normalized axes are known; the op reads the rows per call
    fuse_residual = True  # models/lowering.py may hand this layer an Add's two inputs
    _rms = False

    def _axes_config(self):
        return self.axis

    def _lower_norm(self, prog, inputs, outputs, gamma, beta, eps):
        out = prog.tensor(outputs[0])
        x, res = (inputs[0], inputs[1]) if len(inputs) == 2 else (inputs[0], -1)
        prog.native.add_norm(x, res, out, prog.param(gamma) if gamma is not None else -1,
                             prog.param(beta) if beta is not None else -1, self._width, float(eps), self._rms)
        return [out]

    def _build_axes(self, input_shape):
        pos = _norm_axes(self, self.axis, input_shape)
        self._width = math.prod(input_shape[a] for a in pos)
        # As Keras: after build the axis is a sorted list, as the user gave it (negative stays negative).
        given = [self.axis] if isinstance(self.axis, int) else list(self.axis)
        self.axis = sorted(given)
        return tuple(input_shape[a] for a in pos)


@register
class LayerNormalization(_Norm):
    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, rms_scaling=False, **kw):
        super().__init__(**kw)
        if rms_scaling:
            raise ValueError("LayerNormalization: rms_scaling=True is deprecated in Keras (it scales by the "
                             "variance); use bigcore.layers.RMSNormalization")
        self.axis = _check_axis_arg(axis)
        if not isinstance(epsilon, (int, float)) or epsilon < 0:
            raise ValueError(f"LayerNormalization: epsilon must be a number >= 0. Received: epsilon={epsilon!r}")
        self.epsilon = float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)
        self.gamma = self.beta = None

    def build(self, input_shape):
        shape = self._build_axes(input_shape)
        if self.scale:
            self.gamma = self.add_weight("gamma", shape, self.gamma_initializer, self.gamma_regularizer,
                                         constraint=self.gamma_constraint)
        if self.center:
            self.beta = self.add_weight("beta", shape, self.beta_initializer, self.beta_regularizer,
                                        constraint=self.beta_constraint)
        self.built = True

    def lower(self, prog, inputs, outputs):
        return self._lower_norm(prog, inputs, outputs, self.gamma, self.beta, self.epsilon)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon, "center": self.center,
                "scale": self.scale, "rms_scaling": False,
                "beta_initializer": initializers.serialize(self.beta_initializer),
                "gamma_initializer": initializers.serialize(self.gamma_initializer),
                "beta_regularizer": regularizers.serialize(self.beta_regularizer),
                "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
                "beta_constraint": constraints.serialize(self.beta_constraint),
                "gamma_constraint": constraints.serialize(self.gamma_constraint)}


@register
class RMSNormalization(_Norm):
    _rms = True

    def __init__(self, axis=-1, epsilon=1e-6, **kw):
        super().__init__(**kw)
        self.axis = _check_axis_arg(axis)
        if not isinstance(epsilon, (int, float)) or epsilon < 0:
            raise ValueError(f"RMSNormalization: epsilon must be a number >= 0. Received: epsilon={epsilon!r}")
        self.epsilon = float(epsilon)
        self.scale = None

    def build(self, input_shape):
        shape = self._build_axes(input_shape)
        self.scale = self.add_weight("scale", shape, "ones")
        self.built = True

    def lower(self, prog, inputs, outputs):
        return self._lower_norm(prog, inputs, outputs, self.scale, None, self.epsilon)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon}
