"""Conv1D, Conv2D and Conv3D on the native convolution op (cpp/ops/conv.h, one op over the 1-D/2-D
and the volume geometries), channels last.

Weights use Keras's layout, so they exchange with Keras unchanged: kernel
(*kernel_size, input_channels // groups, filters), bias (filters,). Padding "same" places the
extra row or column at the end (bottom, right), as Keras does; "causal" (Conv1D only) pads
dilation_rate * (kernel_size - 1) steps at the start.
"""

from bigcore import activations, constraints, initializers, regularizers
from bigcore.layers import activation_fn
from bigcore.layers import dims as dims_module
from bigcore.layers.base import Layer, shape_str
from bigcore.layers.registry import register


def standardize_tuple(value, n, name, allow_zero=False):
    """An int or n ints -> a tuple of n positive ints (Keras's standardize_tuple)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value,) * n
    try:
        value = tuple(value)
    except TypeError:
        raise ValueError(f"The `{name}` argument must be a tuple of {n} integers. Received {name}={value!r}") from None
    if len(value) != n or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise ValueError(f"The `{name}` argument must be a tuple of {n} integers. Received {name}={value!r}")
    if any(v < 0 or (v == 0 and not allow_zero) for v in value):
        req = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"The `{name}` argument must be a tuple of {n} integers {req}. Received {name}={value!r}")
    return value


def standardize_padding(padding, allow_causal=False):
    p = padding.lower() if isinstance(padding, str) else padding
    allowed = ("valid", "same", "causal") if allow_causal else ("valid", "same")
    if p not in allowed:
        raise ValueError(f"The `padding` argument must be one of {allowed}. Received: padding={padding!r}")
    return p


def standardize_data_format(data_format):
    if data_format is None:
        return "channels_last"
    if data_format == "channels_first":
        raise ValueError("bigcore runs channels_last only (Keras's default): "
                         "received data_format='channels_first'")
    if data_format != "channels_last":
        raise ValueError(f"The `data_format` argument must be one of {{'channels_first', 'channels_last'}}. "
                         f"Received: data_format={data_format!r}")
    return data_format


def output_length(n, k, stride, dilation, padding):
    """Keras's output size along one spatial axis (None stays None; a run-time length, a Dim of
    layers/dims.py, gives the Dim of the output's)."""
    if n is None:
        return None
    if padding == "valid":  # (n - eff) // stride + 1
        return dims_module.affine(n, 1, stride - dilation * (k - 1) - 1, stride)
    return dims_module.affine(n, 1, stride - 1, stride)  # same, causal: (n - 1) // stride + 1


_VAR_PAD = {"valid": 0, "same": 1, "causal": 2}  # the native ops' var_pad (ops/window_geom.h: set_window_sizes)


def run_time_sizes_ok(shape):
    """Whether the spatial sizes of `shape` (batch, *spatial, channels) that are None are ones the
    window ops derive per call: any of a 1-D or 2-D op's, only the depth of a 3-D op's."""
    spatial = tuple(shape[1:-1])
    return len(spatial) < 3 or all(n is not None for n in spatial[1:])


def run_time_geometry_shape(in_shape, kernel, dilation, padding):
    """(in_shape, var_pad) for a window op: var_pad -1 where every spatial size is known; where some are
    run-time (None) the op derives them and the padding per call, and the geometry handed to it is
    formed with each such axis at the window's span."""
    spatial = tuple(in_shape[1:-1])
    if all(n is not None for n in spatial):
        return in_shape, -1
    spans = tuple(d * (k - 1) + 1 if n is None else n for n, k, d in zip(spatial, kernel, dilation))
    return (in_shape[0],) + spans + (in_shape[-1],), _VAR_PAD[padding]


_AXES = {1: ("steps",), 2: ("rows", "columns"), 3: ("planes", "rows", "columns")}


def run_time_output_dims(dims, x, kernel, strides, dilation, padding, layer):
    """A window op's output dims (layers/base.py _output_dims) with each spatial axis where the input x
    has a run-time length the Dim that Keras's output size of it gives, named for the message an input
    smaller than the window gets."""
    if len(x._dims) != len(kernel) + 1:
        return dims
    out = list(dims)
    for i, (k, s, d) in enumerate(zip(kernel, strides, dilation)):
        if dims_module.is_dim(x._dims[i]):
            axis, eff = _AXES[len(kernel)][i], d * (k - 1) + 1
            out[i] = dims_module.named(output_length(x._dims[i], k, s, d, padding), (
                f"{axis} of the output of {type(layer).__name__} {layer.name!r} (an input with fewer {axis} than "
                f"its window spans, {eff}: give it larger inputs or padding='same')"))
    return tuple(out)


def padding_before(n, k, stride, dilation, padding):
    """Padding at the start of one axis: "same" puts the odd one at the end, "causal" all at the start."""
    eff = dilation * (k - 1) + 1
    if padding == "valid":
        return 0
    if padding == "causal":
        return eff - 1
    out = (n - 1) // stride + 1
    return max(0, (out - 1) * stride + eff - n) // 2


def window_geometry(in_shape, out_shape, kernel, strides, dilation, padding):
    """(H, W, C, OH, OW, KH, KW, SH, SW, DH, DW, PT, PL) for cpp/kernels/conv: 1-D ops have H = 1.
    in_shape/out_shape: (batch, *spatial, channels)."""
    spatial = list(in_shape[1:-1])
    out = list(out_shape[1:-1])
    k, s, d = list(kernel), list(strides), list(dilation)
    if len(spatial) == 1:
        spatial, out, k, s, d = [1] + spatial, [1] + out, [1] + k, [1] + s, [1] + d
    pads = [padding_before(n, kk, ss, dd, padding) for n, kk, ss, dd in zip(spatial, k, s, d)]
    return [spatial[0], spatial[1], in_shape[-1], out[0], out[1], k[0], k[1], s[0], s[1], d[0], d[1],
            pads[0], pads[1]]


def volume_geometry(in_shape, out_shape, kernel, strides, dilation, padding):
    """(D, H, W, C, OD, OH, OW, KD, KH, KW, SD, SH, SW, DD, DH, DW, PF, PT, PL) for the 3-D window ops
    (cpp/kernels/conv/volume.h). in_shape/out_shape: (batch, D, H, W, channels)."""
    pads = [padding_before(n, k, s, d, padding) for n, k, s, d in zip(in_shape[1:4], kernel, strides, dilation)]
    return [*in_shape[1:], *out_shape[1:4], *kernel, *strides, *dilation, *pads]


class _Conv(Layer):
    rank = None

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 groups=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, lora_rank=None,
                 lora_alpha=None, **kw):
        super().__init__(**kw)
        if lora_rank is not None:
            raise ValueError(f"{type(self).__name__}: LoRA (lora_rank) is not supported")
        if isinstance(filters, bool) or not isinstance(filters, int) or filters <= 0:
            raise ValueError(f"Invalid value for argument `filters`. Expected a strictly positive value. "
                             f"Received filters={filters!r}.")
        if isinstance(groups, bool) or not isinstance(groups, int) or groups <= 0:
            raise ValueError(f"The number of groups must be a positive integer. Received: groups={groups!r}.")
        if filters % groups:
            raise ValueError(f"The number of filters must be evenly divisible by the number of groups. "
                             f"Received: groups={groups}, filters={filters}.")
        self.filters, self.groups = filters, groups
        self.kernel_size = standardize_tuple(kernel_size, self.rank, "kernel_size")
        self.strides = standardize_tuple(strides, self.rank, "strides")
        self.dilation_rate = standardize_tuple(dilation_rate, self.rank, "dilation_rate")
        self.padding = standardize_padding(padding, allow_causal=self.rank == 1)
        self.data_format = standardize_data_format(data_format)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"`strides > 1` not supported in conjunction with `dilation_rate > 1`. "
                             f"Received: strides={self.strides} and dilation_rate={self.dilation_rate}")
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

    def _check_input(self, shape):
        # Conv1D takes a run-time length (Input(shape=(None, C))), Conv2D run-time image sizes, Conv3D a
        # run-time depth (a sequence of frames); the channels, and Conv3D's height and width, must be known
        if len(shape) != self.rank + 2 or shape[-1] is None or not run_time_sizes_ok(shape):
            hint = {1: " (Conv1D: all but the steps)", 2: " (Conv2D: all but height and width)",
                    3: " (Conv3D: all but the depth)"}[self.rank]
            raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: expected '
                             f"ndim={self.rank + 2} (batch, *spatial, channels) with known sizes"
                             f"{hint}, found shape={shape_str(shape)}")
        if shape[-1] % self.groups:
            raise ValueError(f"The number of input channels must be evenly divisible by the number of groups. "
                             f"Received groups={self.groups}, but the input has {shape[-1]} channels "
                             f"(full input shape is {shape_str(shape)}).")
        if self.kernel is not None and shape[-1] // self.groups != self.kernel.shape[-2]:
            raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: expected axis -1 of '
                             f"input shape to have value {self.kernel.shape[-2] * self.groups}, but received input "
                             f"with shape {shape_str(shape)}")
        out = self.compute_output_shape(shape)
        if any(s is not None and s <= 0 for s in out[1:]):
            raise ValueError(f"{type(self).__name__} {self.name!r}: the kernel {self.kernel_size} (dilation "
                             f"{self.dilation_rate}) is larger than the input {shape_str(shape)}: the output "
                             f"would be {shape_str(out)}")

    def build(self, input_shape):
        shape = self.kernel_size + (input_shape[-1] // self.groups, self.filters)
        self.kernel = self.add_weight("kernel", shape, self.kernel_initializer, self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer, self.bias_regularizer,
                                        constraint=self.bias_constraint)
        self.built = True

    def compute_output_shape(self, input_shape):
        spatial = [output_length(n, k, s, d, self.padding) for n, k, s, d in
                   zip(input_shape[1:-1], self.kernel_size, self.strides, self.dilation_rate)]
        return (input_shape[0],) + tuple(spatial) + (self.filters,)

    def fusable_activation(self):
        return self.activation

    def geometry(self, in_shape, out_shape):
        return window_geometry(in_shape, out_shape, self.kernel_size, self.strides, self.dilation_rate,
                               self.padding)

    supports_variable_length = True  # run-time spatial sizes (_check_input): the op derives its geometry per call
    _add_op = "add_conv"  # the Program method; add_conv3d for volumes

    def _output_dims(self, shape, xs):
        return run_time_output_dims(super()._output_dims(shape, xs), xs[0], self.kernel_size, self.strides,
                                    self.dilation_rate, self.padding, self)

    def lower(self, prog, inputs, outputs):
        b = prog.param(self.bias) if self.use_bias else -1
        in_shape, var_pad = run_time_geometry_shape(prog.node.inputs[0].shape, self.kernel_size,
                                                    self.dilation_rate, self.padding)
        geom = self.geometry(in_shape, self.compute_output_shape(in_shape))
        add = getattr(prog.native, self._add_op)
        return activation_fn.lower(prog, self, outputs[0], lambda out, act: add(
            inputs[0], out, prog.param(self.kernel), b, geom, self.filters, self.groups, act, var_pad))

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": self.dilation_rate, "groups": self.groups, "activation": activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer),
                "activity_regularizer": regularizers.serialize(self.activity_regularizer),
                "kernel_constraint": constraints.serialize(self.kernel_constraint),
                "bias_constraint": constraints.serialize(self.bias_constraint)}


@register
class Conv1D(_Conv):
    rank = 1


@register
class Conv2D(_Conv):
    rank = 2

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), groups=1, **kw):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate, groups, **kw)


@register
class Conv3D(_Conv):
    """Keras's Conv3D: input (batch, depth, height, width, channels), kernel (kd, kh, kw, C/groups, F)."""
    rank = 3

    def __init__(self, filters, kernel_size, strides=(1, 1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1, 1), groups=1, **kw):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate, groups, **kw)

    _add_op = "add_conv3d"

    def geometry(self, in_shape, out_shape):
        return volume_geometry(in_shape, out_shape, self.kernel_size, self.strides, self.dilation_rate,
                               self.padding)
