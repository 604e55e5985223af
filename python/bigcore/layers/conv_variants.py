"""Conv1DTranspose/Conv2DTranspose, DepthwiseConv1D/2D and SeparableConv1D/2D (cpp/ops/conv_transpose.h,
cpp/ops/conv.h), channels last, with Keras's weight layouts:
  transposed   kernel (*kernel_size, filters, input_channels), bias (filters,)
  depthwise    kernel (*kernel_size, input_channels, depth_multiplier), bias (input_channels * depth_multiplier,)
  separable    depthwise_kernel (*kernel_size, input_channels, depth_multiplier),
               pointwise_kernel (*(1,) * rank, input_channels * depth_multiplier, filters), bias (filters,)
A transposed convolution's output size and padding follow Keras (the JAX backend's rule, which its
torch backend reproduces): "valid" gives (n - 1) * stride + max(kernel, stride), "same" n * stride,
output_padding adds at the end.
"""

import math

from bigcore import activations, constraints, initializers, regularizers
from bigcore.layers import activation_fn
from bigcore.layers import dims as dims_module
from bigcore.layers.base import Layer, shape_str
from bigcore.layers.convolutional import (output_length, run_time_geometry_shape, run_time_output_dims,
                                          standardize_data_format, standardize_padding, standardize_tuple,
                                          window_geometry)
from bigcore.layers.registry import register


def transpose_pads(k, s, d, padding, output_padding):
    """(left, right) padding of the upsampled input (Keras's rule for JAX)."""
    eff = (k - 1) * d + 1
    if padding == "valid":
        op = max(eff, s) - eff if output_padding is None else output_padding
        return eff - 1, eff - 1 + op
    pad = s + eff - 2 if output_padding is None else eff + eff % 2 - 2 + output_padding
    left = min(pad // 2 + pad % 2, eff - 1)
    return left, pad - left


def transpose_length(n, k, s, d, padding, output_padding):
    if n is None:
        return None
    left, right = transpose_pads(k, s, d, padding, output_padding)
    return (n - 1) * s + 1 + left + right - ((k - 1) * d + 1) + 1


def transpose_geometry(in_shape, out_shape, kernel, strides, dilation, padding, output_padding):
    """The native geometry of a transposed convolution: that of the forward convolution it is the
    adjoint of (its input our output, its output our input); window_geometry's 13 numbers for 1-D and
    2-D, volume_geometry's 19 for 3-D. in_shape/out_shape: (batch, *spatial, channels)."""
    rank = len(kernel)
    ops = output_padding or (None,) * rank
    pads = [((k - 1) * d + 1) - 1 - transpose_pads(k, s, d, padding, p)[0]
            for k, s, d, p in zip(kernel, strides, dilation, ops)]
    spatial_out, spatial_in = list(out_shape[1:-1]), list(in_shape[1:-1])
    k, s, d = list(kernel), list(strides), list(dilation)
    if rank == 3:
        return [*spatial_out, out_shape[-1], *spatial_in, *k, *s, *d, *pads]
    if rank == 1:
        spatial_out, spatial_in, k, s, d, pads = [1] + spatial_out, [1] + spatial_in, [1] + k, [1] + s, [1] + d, \
            [0] + pads
    return [spatial_out[0], spatial_out[1], out_shape[-1], spatial_in[0], spatial_in[1], k[0], k[1], s[0], s[1],
            d[0], d[1], pads[0], pads[1]]


class _ConvArgs(Layer):
    """kernel_size, strides, padding, dilation, activation and bias handling shared by the variants."""
    rank = None
    allow_causal = False

    def _init_window(self, kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                     bias_initializer, bias_regularizer, activity_regularizer, bias_constraint):
        self.kernel_size = standardize_tuple(kernel_size, self.rank, "kernel_size")
        self.strides = standardize_tuple(strides, self.rank, "strides")
        self.dilation_rate = standardize_tuple(dilation_rate, self.rank, "dilation_rate")
        self.padding = standardize_padding(padding, allow_causal=self.allow_causal)
        self.data_format = standardize_data_format(data_format)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"`strides > 1` not supported in conjunction with `dilation_rate > 1`. "
                             f"Received: strides={self.strides} and dilation_rate={self.dilation_rate}")
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.bias_initializer = initializers.get(bias_initializer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.bias_constraint = constraints.get(bias_constraint)
        self.bias = None

    def _check_input(self, shape):
        # the depthwise and the 1-D/2-D transposed ops take run-time spatial sizes (supports_variable_length)
        if len(shape) != self.rank + 2 or shape[-1] is None or (
                not self.supports_variable_length and any(s is None for s in shape[1:])):
            known = "known channels" if self.supports_variable_length else "known sizes"
            raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: expected '
                             f"ndim={self.rank + 2} (batch, *spatial, channels) with {known}, "
                             f"found shape={shape_str(shape)}")
        if self.built and shape[-1] != self._in_channels:
            raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: expected axis -1 of '
                             f"input shape to have value {self._in_channels}, got {shape_str(shape)}")
        out = self.compute_output_shape(shape)
        if any(s is not None and s <= 0 for s in out[1:]):
            raise ValueError(f"{type(self).__name__} {self.name!r}: the kernel {self.kernel_size} is larger than "
                             f"the input {shape_str(shape)}")

    def fusable_activation(self):
        return self.activation

    def _window_config(self):
        return {"kernel_size": self.kernel_size, "strides": self.strides, "padding": self.padding,
                "data_format": self.data_format, "dilation_rate": self.dilation_rate,
                "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer),
                "activity_regularizer": regularizers.serialize(self.activity_regularizer),
                "bias_constraint": constraints.serialize(self.bias_constraint)}


class _ConvTranspose(_ConvArgs):
    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kw):
        super().__init__(**kw)
        if isinstance(filters, bool) or not isinstance(filters, int) or filters <= 0:
            raise ValueError(f"Invalid value for argument `filters`. Expected a strictly positive value. "
                             f"Received filters={filters!r}.")
        self.filters = filters
        self._init_window(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                          bias_initializer, bias_regularizer, activity_regularizer, bias_constraint)
        self.output_padding = None if output_padding is None else standardize_tuple(
            output_padding, self.rank, "output_padding", allow_zero=True)
        if self.output_padding is not None and any(p >= s for p, s in zip(self.output_padding, self.strides)):
            raise ValueError(f"output_padding must be smaller than the strides. Received: "
                             f"output_padding={self.output_padding}, strides={self.strides}")
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.kernel = None

    def build(self, input_shape):
        self._in_channels = input_shape[-1]
        self.kernel = self.add_weight("kernel", self.kernel_size + (self.filters, input_shape[-1]),
                                      self.kernel_initializer, self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer, self.bias_regularizer,
                                        constraint=self.bias_constraint)
        self.built = True

    def compute_output_shape(self, input_shape):
        ops = self.output_padding or (None,) * self.rank
        spatial = [transpose_length(n, k, s, d, self.padding, p) for n, k, s, d, p in
                   zip(input_shape[1:-1], self.kernel_size, self.strides, self.dilation_rate, ops)]
        return (input_shape[0],) + tuple(spatial) + (self.filters,)

    @property
    def supports_variable_length(self):  # 1-D/2-D: the op reads its sizes per call (its padding is fixed)
        return self.rank < 3

    def _output_dims(self, shape, xs):
        dims, x = list(super()._output_dims(shape, xs)), xs[0]
        ops = self.output_padding or (None,) * self.rank
        for i, (k, s, d, p) in enumerate(zip(self.kernel_size, self.strides, self.dilation_rate, ops)):
            if len(x._dims) == self.rank + 1 and dims_module.is_dim(x._dims[i]):
                dims[i] = transpose_length(x._dims[i], k, s, d, self.padding, p)
        return tuple(dims)

    def lower(self, prog, inputs, outputs):
        in_shape = prog.node.inputs[0].shape
        run_time = None in in_shape[1:-1]
        if run_time:  # the geometry at a stand-in size of 1; the op takes the sizes per call
            in_shape = (in_shape[0],) + tuple(1 if n is None else n for n in in_shape[1:-1]) + (in_shape[-1],)
        geom = transpose_geometry(in_shape, self.compute_output_shape(in_shape), self.kernel_size, self.strides,
                                  self.dilation_rate, self.padding, self.output_padding)
        b = prog.param(self.bias) if self.use_bias else -1
        if self.rank == 3:
            add = prog.native.add_conv3d_transpose
        else:
            def add(*args):
                return prog.native.add_conv_transpose(*args, run_time)
        return activation_fn.lower(prog, self, outputs[0], lambda out, act: add(
            inputs[0], out, prog.param(self.kernel), b, geom, in_shape[-1], act))

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, **self._window_config(),
                "output_padding": self.output_padding,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "kernel_constraint": constraints.serialize(self.kernel_constraint)}


@register
class Conv1DTranspose(_ConvTranspose):
    rank = 1


@register
class Conv2DTranspose(_ConvTranspose):
    rank = 2

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", output_padding=None, data_format=None,
                 dilation_rate=(1, 1), **kw):
        super().__init__(filters, kernel_size, strides, padding, output_padding, data_format, dilation_rate, **kw)


@register
class Conv3DTranspose(_ConvTranspose):
    """Keras's Conv3DTranspose: input (batch, depth, height, width, channels), kernel
    (kd, kh, kw, filters, in_channels)."""
    rank = 3

    def __init__(self, filters, kernel_size, strides=(1, 1, 1), padding="valid", output_padding=None,
                 data_format=None, dilation_rate=(1, 1, 1), **kw):
        super().__init__(filters, kernel_size, strides, padding, output_padding, data_format, dilation_rate, **kw)


class _Depthwise(_ConvArgs):
    """The depthwise part shared by DepthwiseConv and SeparableConv."""
    supports_variable_length = True  # run-time spatial sizes: the depthwise op derives its geometry per call

    def _output_dims(self, shape, xs):
        return run_time_output_dims(super()._output_dims(shape, xs), xs[0], self.kernel_size, self.strides,
                                    self.dilation_rate, self.padding, self)

    def _init_depthwise(self, depth_multiplier, depthwise_initializer, depthwise_regularizer, depthwise_constraint):
        if isinstance(depth_multiplier, bool) or not isinstance(depth_multiplier, int) or depth_multiplier <= 0:
            raise ValueError(f"Invalid value for argument `depth_multiplier`. Expected a strictly positive value. "
                             f"Received depth_multiplier={depth_multiplier!r}.")
        self.depth_multiplier = depth_multiplier
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.depthwise_constraint = constraints.get(depthwise_constraint)

    def _spatial_out(self, input_shape):
        return tuple(output_length(n, k, s, d, self.padding) for n, k, s, d in
                     zip(input_shape[1:-1], self.kernel_size, self.strides, self.dilation_rate))

    def _depthwise_geom(self, in_shape):
        """(geometry, var_pad) of the depthwise op: run-time sizes (None) as Conv1D/Conv2D take them."""
        in_shape, var_pad = run_time_geometry_shape(in_shape, self.kernel_size, self.dilation_rate, self.padding)
        out = (in_shape[0],) + self._spatial_out(in_shape) + (1,)
        return window_geometry(in_shape, out, self.kernel_size, self.strides, self.dilation_rate,
                               self.padding), var_pad

    def _depthwise_config(self):
        return {"depth_multiplier": self.depth_multiplier,
                "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
                "depthwise_regularizer": regularizers.serialize(self.depthwise_regularizer),
                "depthwise_constraint": constraints.serialize(self.depthwise_constraint)}


class _DepthwiseConv(_Depthwise):
    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1, data_format=None, dilation_rate=1,
                 activation=None, use_bias=True, depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, bias_constraint=None, **kw):
        super().__init__(**kw)
        self._init_window(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                          bias_initializer, bias_regularizer, activity_regularizer, bias_constraint)
        self._init_depthwise(depth_multiplier, depthwise_initializer, depthwise_regularizer, depthwise_constraint)
        self.kernel = None

    def build(self, input_shape):
        C = self._in_channels = input_shape[-1]
        self.kernel = self.add_weight("kernel", self.kernel_size + (C, self.depth_multiplier),
                                      self.depthwise_initializer, self.depthwise_regularizer,
                                      constraint=self.depthwise_constraint)
        if self.use_bias:
            self.bias = self.add_weight("bias", (C * self.depth_multiplier,), self.bias_initializer,
                                        self.bias_regularizer, constraint=self.bias_constraint)
        self.built = True

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self._spatial_out(input_shape) + (input_shape[-1] * self.depth_multiplier,)

    def lower(self, prog, inputs, outputs):
        b = prog.param(self.bias) if self.use_bias else -1
        geom, var_pad = self._depthwise_geom(prog.node.inputs[0].shape)
        return activation_fn.lower(prog, self, outputs[0], lambda out, act: prog.native.add_depthwise_conv(
            inputs[0], out, prog.param(self.kernel), b, geom, self.depth_multiplier, act, var_pad))

    def get_config(self):
        return {**super().get_config(), **self._window_config(), **self._depthwise_config()}


@register
class DepthwiseConv1D(_DepthwiseConv):
    rank = 1


@register
class DepthwiseConv2D(_DepthwiseConv):
    rank = 2

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1, data_format=None,
                 dilation_rate=(1, 1), **kw):
        super().__init__(kernel_size, strides, padding, depth_multiplier, data_format, dilation_rate, **kw)


class _SeparableConv(_Depthwise):
    """A depthwise convolution (no bias, no activation) then a pointwise (1x1) one with bias and activation."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 depth_multiplier=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, pointwise_constraint=None, bias_constraint=None, **kw):
        super().__init__(**kw)
        if isinstance(filters, bool) or not isinstance(filters, int) or filters <= 0:
            raise ValueError(f"Invalid value for argument `filters`. Expected a strictly positive value. "
                             f"Received filters={filters!r}.")
        self.filters = filters
        self._init_window(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                          bias_initializer, bias_regularizer, activity_regularizer, bias_constraint)
        self._init_depthwise(depth_multiplier, depthwise_initializer, depthwise_regularizer, depthwise_constraint)
        self.pointwise_initializer = initializers.get(pointwise_initializer)
        self.pointwise_regularizer = regularizers.get(pointwise_regularizer)
        self.pointwise_constraint = constraints.get(pointwise_constraint)
        self.depthwise_kernel = self.pointwise_kernel = None

    def build(self, input_shape):
        C = self._in_channels = input_shape[-1]
        M = self.depth_multiplier
        self.depthwise_kernel = self.add_weight("depthwise_kernel", self.kernel_size + (C, M),
                                                self.depthwise_initializer, self.depthwise_regularizer,
                                                constraint=self.depthwise_constraint)
        self.pointwise_kernel = self.add_weight("pointwise_kernel", (1,) * self.rank + (C * M, self.filters),
                                                self.pointwise_initializer, self.pointwise_regularizer,
                                                constraint=self.pointwise_constraint)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer, self.bias_regularizer,
                                        constraint=self.bias_constraint)
        self.built = True

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self._spatial_out(input_shape) + (self.filters,)

    def lower(self, prog, inputs, outputs):
        in_shape = prog.node.inputs[0].shape
        spatial = self._spatial_out(in_shape)
        CM = in_shape[-1] * self.depth_multiplier
        geom, var_pad = self._depthwise_geom(in_shape)
        # the depthwise output: the layer's output's spatial lengths (run-time ones too), CM channels
        mid = prog.native.add_shaped_tensor(prog.template(outputs[0])[:-1] + [CM], False, True)
        prog.native.add_depthwise_conv(inputs[0], mid, prog.param(self.depthwise_kernel), -1, geom,
                                       self.depth_multiplier, 0, var_pad)
        ones = [1] * self.rank
        mid_shape, pw_pad = run_time_geometry_shape((None,) + spatial + (CM,), ones, ones, "valid")
        geom = window_geometry(mid_shape, mid_shape[:-1] + (self.filters,), ones, ones, ones, "valid")
        b = prog.param(self.bias) if self.use_bias else -1
        return activation_fn.lower(prog, self, outputs[0], lambda out, act: prog.native.add_conv(
            mid, out, prog.param(self.pointwise_kernel), b, geom, self.filters, 1, act, pw_pad))

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, **self._window_config(), **self._depthwise_config(),
                "pointwise_initializer": initializers.serialize(self.pointwise_initializer),
                "pointwise_regularizer": regularizers.serialize(self.pointwise_regularizer),
                "pointwise_constraint": constraints.serialize(self.pointwise_constraint)}


@register
class SeparableConv1D(_SeparableConv):
    rank = 1


@register
class SeparableConv2D(_SeparableConv):
    rank = 2

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), depth_multiplier=1, **kw):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate, depth_multiplier, **kw)
