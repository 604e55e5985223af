"""keras.ops' convolutions and poolings (keras.ops.nn): conv, depthwise_conv, separable_conv,
conv_transpose, max_pool, average_pool; channels last, 1-D and 2-D, 3-D for conv, conv_transpose and
the poolings (the ranks the native kernels have).

On symbolic tensors each records one `WindowOp` node, lowered to the native op the Conv / Pooling
layers use. The kernel is a tensor of the program (a custom layer's weight, or computed): the
convolution runs over a private copy of it and hands its gradient back (cpp/ops/tensor_kernel.h). On
arrays an op runs the same program through a one-op traced call (the kernel a constant there).
Geometry follows the layers: "same" puts the odd padding at the end; a transposed convolution's
output size is Keras's rule (layers/conv_variants.py). Spatial sizes must be known when traced.
"""

import numpy as np

from bigcore.layers.base import KerasTensor, Layer, Node, Weight
from bigcore.layers.conv_variants import transpose_geometry, transpose_length
from bigcore.layers.convolutional import (output_length, standardize_padding, standardize_tuple, volume_geometry,
                                          window_geometry)
from bigcore.layers.dims import BATCH
from bigcore.ops.node import OpLayer, _tensor_for, is_symbolic, register_kind, to_array, to_symbolic

_POOL_MODE = {"max_pool": 0, "average_pool": 1}


def _data_format(data_format, what):
    if data_format is None or data_format == "channels_last":
        return
    if data_format == "channels_first":
        raise ValueError(f"{what}: bigcore runs channels_last only (Keras's default): received "
                         "data_format='channels_first' (transpose the input to channels last)")
    raise ValueError(f"{what}: The `data_format` argument must be one of {{'channels_first', 'channels_last'}}. "
                     f"Received: data_format={data_format!r}")


def _ndim(a):
    if isinstance(a, KerasTensor):
        return len(a.full_dims)
    if isinstance(a, Weight):
        return len(a.shape)
    return np.ndim(a)


def _rank(inputs, what, ranks):
    rank = _ndim(inputs) - 2
    if rank not in ranks:
        raise ValueError(f"{what}: inputs must be {', '.join(f'{r + 2}-D' for r in ranks)} (batch, *spatial, "
                         f"channels). Received an input of rank {rank + 2}")
    return rank


class WindowOp(OpLayer):
    """One of this module's ops: kind in conv, depthwise_conv, conv_transpose, max_pool, average_pool;
    attrs: rank, strides, padding, dilation_rate, (pool_size, output_padding). Inputs: (x, kernel) or (x,)."""

    supports_variable_length = False  # the geometry is fixed when traced

    def record(self, xs):
        for t in xs:
            if not isinstance(t, KerasTensor):
                raise TypeError(f"op {self.kind!r}: inputs must be symbolic tensors here, got {type(t).__name__}")
        x = xs[0]
        if not x._batched:
            raise ValueError(f"{self.kind}: inputs must have the batch axis (batch, *spatial, channels); this tensor "
                             f"has none (shape {tuple(x.shape)})")
        if not all(isinstance(n, int) for n in x._dims):
            raise ValueError(f"{self.kind}: the spatial sizes and channels must be known when the call is traced. "
                             f"Received an input of shape {tuple(x.shape)}")
        if len(xs) > 1:
            k = xs[1]
            if k._batched or not all(isinstance(n, int) for n in k._dims):
                raise ValueError(f"{self.kind}: the kernel must be a tensor of known shape without a batch axis "
                                 f"(a weight, or computed from weights). Received shape {tuple(k.full_dims)}")
        out_dims = self.out_dims(tuple(x._dims), tuple(xs[1]._dims) if len(xs) > 1 else None)
        out = _tensor_for((BATCH,) + out_dims, "float32", self.name)
        node = Node(self, xs, [out], list_input=len(xs) > 1)
        out.node, out.index = node, 0
        self._inbound.append(node)
        return [out]

    def out_dims(self, x_dims, k_dims):
        """The output's non-batch dims for an input's (spatial..., C) and the kernel's; checks them."""
        a, kind = self.attrs, self.kind
        rank, spatial, C = a["rank"], x_dims[:-1], x_dims[-1]
        s, d, pad = a["strides"], a["dilation_rate"], a["padding"]
        if kind in _POOL_MODE:
            out = [output_length(n, p, ss, 1, pad) for n, p, ss in zip(spatial, a["pool_size"], s)]
            channels = C
        else:
            if len(k_dims) != rank + 2:
                raise ValueError(f"{kind}: the kernel must have rank {rank + 2} for a {rank}-D input. Received a "
                                 f"kernel of shape {k_dims}")
            ks = k_dims[:rank]
            if kind == "conv":
                if C % k_dims[-2] or k_dims[-1] % (C // k_dims[-2] or 1):
                    raise ValueError(f"conv: the input's channels ({C}) must be a multiple of the kernel's input "
                                     f"channels (axis -2, {k_dims[-2]}), and the filters ({k_dims[-1]}) of the groups "
                                     f"that gives. Received inputs {x_dims}, kernel {k_dims}")
                channels = k_dims[-1]
            elif kind == "depthwise_conv":
                if k_dims[-2] != C:
                    raise ValueError(f"depthwise_conv: the kernel's axis -2 must be the input's channels ({C}). "
                                     f"Received a kernel of shape {k_dims}")
                channels = C * k_dims[-1]
            else:
                if k_dims[-1] != C:
                    raise ValueError(f"conv_transpose: the kernel (*kernel_size, filters, in_channels) must have "
                                     f"the input's channels ({C}) on its last axis. Received a kernel of shape {k_dims}")
                channels = k_dims[-2]
            if kind == "conv_transpose":
                ops = a["output_padding"] or [None] * rank
                out = [transpose_length(n, k, ss, dd, pad, p) for n, k, ss, dd, p in zip(spatial, ks, s, d, ops)]
            else:
                out = [output_length(n, k, ss, dd, pad) for n, k, ss, dd in zip(spatial, ks, s, d)]
        if any(n <= 0 for n in out):
            raise ValueError(f"{kind}: the window is larger than the input {x_dims}: the output would have spatial "
                             f"sizes {tuple(out)}")
        return tuple(out) + (channels,)

    def lower(self, prog, inputs, outputs):
        a, kind = self.attrs, self.kind
        rank = a["rank"]
        x_dims = tuple(prog.node.inputs[0]._dims)
        in_shape = (None,) + x_dims
        out_shape = (None,) + tuple(outputs[0]._dims)
        out = prog.tensor(outputs[0])
        geometry = volume_geometry if rank == 3 else window_geometry
        if kind in _POOL_MODE:
            geom = geometry(in_shape, out_shape, a["pool_size"], a["strides"], (1,) * rank, a["padding"])
            if rank == 3:
                prog.native.add_pool3d(inputs[0], out, geom, _POOL_MODE[kind])
            else:
                prog.native.add_pool(inputs[0], out, geom, _POOL_MODE[kind], -1)
            return [out]
        k_dims = tuple(prog.node.inputs[1]._dims)
        ks = k_dims[:rank]
        if kind == "conv_transpose":
            geom = transpose_geometry(in_shape, out_shape, ks, a["strides"], a["dilation_rate"], a["padding"],
                                      a["output_padding"])
            native, n, groups = "conv3d_transpose" if rank == 3 else "conv_transpose", x_dims[-1], 1
        else:
            geom = geometry(in_shape, out_shape, ks, a["strides"], a["dilation_rate"], a["padding"])
            if kind == "conv":
                native, n, groups = "conv3d" if rank == 3 else "conv", k_dims[-1], x_dims[-1] // k_dims[-2]
            else:
                native, n, groups = "depthwise", k_dims[-1], 1
        prog.native.add_tensor_kernel_conv(native, inputs[0], inputs[1], out, geom, n, groups)
        return [out]


for _kind in ("conv", "depthwise_conv", "conv_transpose", "max_pool", "average_pool"):
    register_kind(_kind, WindowOp)


class _OnArrays(Layer):
    """One op on arrays: a custom layer whose traced call() is the op (the kernel a constant)."""

    def __init__(self, fn):
        super().__init__()
        self._fn = fn

    def call(self, inputs):
        return self._fn(inputs)


def _run(kind, inputs, kernel, attrs):
    if not is_symbolic([inputs, kernel] if kernel is not None else [inputs]):
        k = None if kernel is None else np.asarray(to_array(kernel), np.float32)
        x = np.asarray(to_array(inputs), np.float32)
        return np.asarray(_OnArrays(lambda t: _run(kind, t, k, attrs))(x))
    args = [to_symbolic(inputs)] + ([] if kernel is None else [to_symbolic(kernel)])
    return WindowOp(kind, attrs).record(args)[0]


def _window_attrs(rank, strides, padding, dilation_rate, what):
    s = standardize_tuple(strides, rank, "strides")
    d = standardize_tuple(dilation_rate, rank, "dilation_rate")
    p = standardize_padding(padding)
    if max(s) > 1 and max(d) > 1:
        raise ValueError(f"{what}: `strides > 1` not supported in conjunction with `dilation_rate > 1`. "
                         f"Received: strides={s} and dilation_rate={d}")
    return {"rank": rank, "strides": list(s), "padding": p, "dilation_rate": list(d)}


def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """Keras's ops.conv: inputs (batch, *spatial, C), kernel (*kernel_size, C / groups, filters) ->
    (batch, *out_spatial, filters); groups = C // kernel.shape[-2]."""
    _data_format(data_format, "conv")
    rank = _rank(inputs, "conv", (1, 2, 3))
    return _run("conv", inputs, kernel, _window_attrs(rank, strides, padding, dilation_rate, "conv"))


def depthwise_conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """Keras's ops.depthwise_conv: kernel (*kernel_size, C, multiplier) -> (batch, *out, C * multiplier)."""
    _data_format(data_format, "depthwise_conv")
    rank = _rank(inputs, "depthwise_conv", (1, 2))
    return _run("depthwise_conv", inputs, kernel,
                _window_attrs(rank, strides, padding, dilation_rate, "depthwise_conv"))


def separable_conv(inputs, depthwise_kernel, pointwise_kernel, strides=1, padding="valid", data_format=None,
                   dilation_rate=1):
    """Keras's ops.separable_conv: depthwise_conv, then a 1x1 conv with pointwise_kernel
    (*(1,) * rank, C * multiplier, filters)."""
    _data_format(data_format, "separable_conv")
    mid = depthwise_conv(inputs, depthwise_kernel, strides, padding, None, dilation_rate)
    return conv(mid, pointwise_kernel, 1, "valid", None, 1)


def conv_transpose(inputs, kernel, strides=1, padding="valid", output_padding=None, data_format=None,
                   dilation_rate=1):
    """Keras's ops.conv_transpose: inputs (batch, *spatial, C), kernel (*kernel_size, filters, C) ->
    (batch, *out_spatial, filters), out sizes by Keras's rule (layers/conv_variants.py)."""
    _data_format(data_format, "conv_transpose")
    rank = _rank(inputs, "conv_transpose", (1, 2, 3))
    attrs = _window_attrs(rank, strides, padding, dilation_rate, "conv_transpose")
    op = None
    if output_padding is not None:
        op = standardize_tuple(output_padding, rank, "output_padding", allow_zero=True)
        if any(p >= s for p, s in zip(op, attrs["strides"])):
            raise ValueError(f"conv_transpose: output_padding must be smaller than the strides. Received: "
                             f"output_padding={op}, strides={tuple(attrs['strides'])}")
        op = list(op)
    attrs["output_padding"] = op
    return _run("conv_transpose", inputs, kernel, attrs)


def _pool(kind, inputs, pool_size, strides, padding, data_format):
    _data_format(data_format, kind)
    rank = _rank(inputs, kind, (1, 2, 3))
    size = standardize_tuple(pool_size, rank, "pool_size")
    s = size if strides is None else standardize_tuple(strides, rank, "strides")
    attrs = {"rank": rank, "pool_size": list(size), "strides": list(s), "padding": standardize_padding(padding),
             "dilation_rate": [1] * rank}
    return _run(kind, inputs, None, attrs)


def max_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    """Keras's ops.max_pool (strides default to pool_size); "same" padding never wins a max."""
    return _pool("max_pool", inputs, pool_size, strides, padding, data_format)


def average_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    """Keras's ops.average_pool; with "same" padding the padded positions are not counted (TensorFlow's
    and JAX's rule, as the AveragePooling layers)."""
    return _pool("average_pool", inputs, pool_size, strides, padding, data_format)
