"""BatchNormalization on the native op (cpp/ops/batchnorm.h).

Weights in Keras's order: gamma (scale=True), beta (center=True), moving_mean, moving_variance;
the moving statistics are non-trainable arena segments that the native training step moves
(moving = moving * momentum + batch statistic * (1 - momentum), the variance biased, as Keras).
trainable=False freezes the layer as Keras does: it then normalizes with the moving statistics in
training too, and they stay put.
"""

import math

from bigcore import constraints, initializers, regularizers
from bigcore.layers.base import Layer, shape_str
from bigcore.layers.masking import TakesMask
from bigcore.layers.registry import register


@register
class BatchNormalization(TakesMask, Layer):
    supports_masking = True
    supports_variable_length = True  # the channels are known; the op reads the rows per call
    fuse_relu = True  # a ReLU that alone reads the result runs in the op's passes (models/lowering.py)

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 renorm=False, renorm_clipping=None, renorm_momentum=0.99, synchronized=False, **kw):
        super().__init__(**kw)
        if renorm:
            raise ValueError("BatchNormalization: renorm=True (batch renormalization) is not supported")
        if synchronized:
            raise ValueError("Argument synchronized=True is only supported with the TensorFlow backend.")
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ValueError(f"BatchNormalization: axis must be an int. Received: axis={axis!r}")
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"BatchNormalization: momentum must be in [0, 1]. Received: momentum={momentum!r}")
        if epsilon <= 0:
            raise ValueError(f"BatchNormalization: epsilon must be > 0. Received: epsilon={epsilon!r}")
        self.axis = axis
        self.momentum, self.epsilon = float(momentum), float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)
        self.renorm, self.renorm_clipping, self.renorm_momentum = False, renorm_clipping, renorm_momentum
        self.synchronized = False
        self.gamma = self.beta = self.moving_mean = self.moving_variance = None

    def _check_input(self, shape):
        if len(shape) < 2 or shape[-1] is None:
            raise ValueError(f"BatchNormalization {self.name!r} needs a known last input dimension, "
                             f"got {shape_str(shape)}")
        if self.axis not in (-1, len(shape) - 1):
            raise ValueError(f"BatchNormalization {self.name!r}: only the last axis (channels last) is supported, "
                             f"got axis={self.axis} for an input of shape {shape_str(shape)}")
        if self.moving_mean is not None and shape[-1] != self.moving_mean.shape[0]:
            raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: expected axis -1 of '
                             f"input shape to have value {self.moving_mean.shape[0]}, got {shape_str(shape)}")

    def build(self, input_shape):
        shape = (input_shape[-1],)
        if self.scale:
            self.gamma = self.add_weight("gamma", shape, self.gamma_initializer, self.gamma_regularizer,
                                         constraint=self.gamma_constraint)
        if self.center:
            self.beta = self.add_weight("beta", shape, self.beta_initializer, self.beta_regularizer,
                                        constraint=self.beta_constraint)
        self.moving_mean = self.add_weight("moving_mean", shape, self.moving_mean_initializer, trainable=False)
        self.moving_variance = self.add_weight("moving_variance", shape, self.moving_variance_initializer,
                                               trainable=False)
        self.built = True

    def lower(self, prog, inputs, outputs, relu=False):
        """relu: outputs are those of a ReLU after this layer, which the op applies (fuse_relu)."""
        out = prog.tensor(outputs[0])
        kt = prog.node.inputs[0]
        mask = prog.input_mask_id()
        if mask >= 0 and len(kt.shape) != 3:
            raise ValueError(f"BatchNormalization {self.name!r}: the mask provided should be one dimension less "
                             f"than the inputs. Received: inputs.shape={shape_str(kt.shape)}")
        op = prog.native.n_ops
        prog.native.add_batchnorm(inputs[0], out, mask, kt.shape[-1],
                                  prog.param(self.gamma) if self.scale else -1,
                                  prog.param(self.beta) if self.center else -1,
                                  prog.param(self.moving_mean), prog.param(self.moving_variance),
                                  self.momentum, self.epsilon, not self.trainable, relu)
        prog.trainable_shaped.append((self, op))  # frozen statistics follow layer.trainable (its op's mode)
        return [out]

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale,
                "beta_initializer": initializers.serialize(self.beta_initializer),
                "gamma_initializer": initializers.serialize(self.gamma_initializer),
                "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
                "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer),
                "beta_regularizer": regularizers.serialize(self.beta_regularizer),
                "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
                "beta_constraint": constraints.serialize(self.beta_constraint),
                "gamma_constraint": constraints.serialize(self.gamma_constraint),
                "synchronized": self.synchronized, "renorm": self.renorm,
                "renorm_clipping": self.renorm_clipping, "renorm_momentum": self.renorm_momentum}


def _trailing_axes(axis, shape, layer):
    """axis (an int or a list) as the trailing axes it must be (channels last): their sizes' product."""
    rank = len(shape)
    axes = sorted(a % rank for a in (axis if isinstance(axis, (list, tuple)) else [axis]))
    if not axes or axes[0] == 0 or axes != list(range(axes[0], rank)):
        raise ValueError(f"{layer}: only the trailing feature axes can be normalized (channels last), got "
                         f"axis={axis} for an input of shape {shape_str(shape)}")
    return axes


class _PerSampleNorm(Layer):
    """Shared by LayerNormalization and GroupNormalization: gamma and beta over the normalized channels."""
    supports_masking = True

    def _init_weights_args(self, epsilon, center, scale, beta_initializer, gamma_initializer, beta_regularizer,
                           gamma_regularizer, beta_constraint, gamma_constraint):
        if epsilon <= 0:
            raise ValueError(f"{type(self).__name__}: epsilon must be > 0. Received: epsilon={epsilon!r}")
        self.epsilon, self.center, self.scale = float(epsilon), bool(center), bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)
        self.gamma = self.beta = None

    def _add_weights(self, shape):
        if self.scale:
            self.gamma = self.add_weight("gamma", shape, self.gamma_initializer, self.gamma_regularizer,
                                         constraint=self.gamma_constraint)
        if self.center:
            self.beta = self.add_weight("beta", shape, self.beta_initializer, self.beta_regularizer,
                                        constraint=self.beta_constraint)
        self.built = True

    def _lower(self, prog, inputs, outputs, C, groups):
        out = prog.tensor(outputs[0])
        prog.native.add_group_norm(inputs[0], out, C, groups, prog.param(self.gamma) if self.scale else -1,
                             prog.param(self.beta) if self.center else -1, self.epsilon)
        return [out]

    def _weights_config(self):
        return {"epsilon": self.epsilon, "center": self.center, "scale": self.scale,
                "beta_initializer": initializers.serialize(self.beta_initializer),
                "gamma_initializer": initializers.serialize(self.gamma_initializer),
                "beta_regularizer": regularizers.serialize(self.beta_regularizer),
                "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
                "beta_constraint": constraints.serialize(self.beta_constraint),
                "gamma_constraint": constraints.serialize(self.gamma_constraint)}


@register
class GroupNormalization(_PerSampleNorm):
    """Each sample's channels cut into `groups` (-1: one per channel, instance normalization); each group
    normalized over all its positions and channels."""

    def __init__(self, groups=32, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, **kw):
        super().__init__(**kw)
        if isinstance(groups, bool) or not isinstance(groups, int) or (groups <= 0 and groups != -1):
            raise ValueError(f"Received an invalid value for argument `groups`, expected a positive integer (or "
                             f"`-1` for instance normalization). Received: groups={groups}")
        self.groups, self.axis = groups, axis
        self._init_weights_args(epsilon, center, scale, beta_initializer, gamma_initializer, beta_regularizer,
                                gamma_regularizer, beta_constraint, gamma_constraint)

    def _check_input(self, shape):
        if self.axis not in (-1, len(shape) - 1) or shape[-1] is None:
            raise ValueError(f"GroupNormalization {self.name!r}: only the last axis (channels last, known) is "
                             f"supported, got axis={self.axis} for {shape_str(shape)}")
        groups = shape[-1] if self.groups == -1 else self.groups
        if shape[-1] < groups:
            raise ValueError(f"Number of groups ({groups}) cannot be more than the number of channels ({shape[-1]}).")
        if shape[-1] % groups:
            raise ValueError(f"Number of groups ({groups}) must be a multiple of the number of channels "
                             f"({shape[-1]}).")

    def build(self, input_shape):
        if self.groups == -1:
            self.groups = input_shape[-1]
        self._add_weights((input_shape[-1],))

    def lower(self, prog, inputs, outputs):
        return self._lower(prog, inputs, outputs, outputs[0].shape[-1], self.groups)

    def get_config(self):
        return {**super().get_config(), "groups": self.groups, "axis": self.axis, **self._weights_config()}


@register
class UnitNormalization(Layer):
    """x / max(||x||, 1e-12) over the `axis` values (trailing axes)."""
    supports_variable_length = True  # elementwise / per row: the op reads the size per call
    supports_masking = True

    def __init__(self, axis=-1, **kw):
        super().__init__(**kw)
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else axis

    def _check_input(self, shape):
        _trailing_axes(self.axis, shape, f"UnitNormalization {self.name!r}")

    def lower(self, prog, inputs, outputs):
        out = prog.tensor(outputs[0])
        shape = outputs[0].shape
        width = [shape[a] for a in _trailing_axes(self.axis, shape, "")]
        if None in width:
            raise ValueError(f"UnitNormalization {self.name!r}: the normalized axes need fixed lengths; got "
                             f"{shape_str(shape)} with axis={self.axis!r}")
        prog.native.add_unit_norm(inputs[0], out, math.prod(width))
        return [out]

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
