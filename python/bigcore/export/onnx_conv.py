"""ONNX rules for the ConvNet and everyday layers: convolutions (Conv, ConvTranspose; depthwise and
separable as grouped Conv), pooling, BatchNormalization (inference: a per-channel Mul and Add),
the activation layers, Layer/Group/Unit normalization, the index-map layers (one Gather over the
flattened sample), Masking, the noise layers (the identity) and TimeDistributed (the wrapped
layer's rule over the folded time axis).

bigcore is channels last and ONNX's Conv / ConvTranspose / MaxPool / AveragePool are channels
first: each of those is wrapped in two Transposes (onnxruntime folds adjacent pairs away).
"""

import math

import numpy as np

from bigcore.layers import (activations as act_layers, conv_variants, convolutional, identity as identity_layer,
                            masking as masking_layer, noise, normalization, pooling, reshaping, wrappers)
from bigcore.layers.base import KerasTensor, Node, shape_str
from bigcore.layers.convolutional import padding_before


def _to_channels_first(g, x, rank, hint):
    return g.op("Transpose", [x], f"{hint}/nchw", perm=[0, rank + 1] + list(range(1, rank + 1)))


def _to_channels_last(g, x, rank, hint):
    return g.op("Transpose", [x], f"{hint}/nhwc", perm=[0] + list(range(2, rank + 2)) + [1])


def _pads(in_shape, out_shape, kernel, strides, dilation, padding):
    """ONNX pads [begin..., end...] of a window op that reads in_shape and writes out_shape."""
    begin, end = [], []
    for n, o, k, s, d in zip(in_shape[1:-1], out_shape[1:-1], kernel, strides, dilation):
        b = padding_before(n, k, s, d, padding)
        begin.append(b)
        end.append(max(0, (o - 1) * s + (k - 1) * d + 1 - n - b))
    return begin + end


def _pad_attrs(node, kernel, strides, dilation, padding):
    """The padding attributes of a window op: explicit pads for known sizes; for run-time ones (None),
    pads that hold for any size (Keras's "same" is ONNX's SAME_UPPER: the odd padding at the end)."""
    in_shape = node.inputs[0].shape
    if None not in in_shape[1:-1]:
        return {"pads": _pads(in_shape, node.outputs[0].shape, kernel, strides, dilation, padding)}
    eff = [(k - 1) * d + 1 for k, d in zip(kernel, dilation)]
    if padding == "same" and max(strides) > 1:  # then no dilation (Keras); onnxruntime's SAME_UPPER takes none
        return {"auto_pad": "SAME_UPPER"}
    if padding == "same":  # stride 1: the same padding for every size, the odd one at the end
        return {"pads": [(e - 1) // 2 for e in eff] + [e - 1 - (e - 1) // 2 for e in eff]}
    return {"pads": [e - 1 if padding == "causal" else 0 for e in eff] + [0] * len(kernel)}


def _windowed(g, layer, x, node, op_type, attrs, extra_inputs=()):
    """Transpose to channels first, one window op, transpose back."""
    rank = len(node.inputs[0].shape) - 2
    n = layer.name
    y = g.op(op_type, [_to_channels_first(g, x, rank, n)] + list(extra_inputs), f"{n}/{op_type.lower()}", **attrs)
    return _to_channels_last(g, y, rank, n)


def window_rows(g, layer, x, node):
    """im2col as one Gather: x (batch, *spatial, C) -> (batch, positions, window) with each window's
    values in bigcore's im2col order (kernel rows, kernel columns, channels), the padding read as 0
    from a column appended to the flattened sample; the rows quantized int8 convolutions quantize."""
    n = layer.name
    in_shape, out_shape = tuple(node.inputs[0].shape[1:]), tuple(node.outputs[0].shape[1:])
    spatial, C = in_shape[:-1], in_shape[-1]
    size = math.prod(in_shape)
    before = [padding_before(i, k, s, d, layer.padding)
              for i, k, s, d in zip(spatial, layer.kernel_size, layer.strides, layer.dilation_rate)]
    # per axis: (out, kernel) input coordinates, then their product over the axes, row-major
    coords = [np.arange(o)[:, None] * s + np.arange(k)[None, :] * d - b
              for o, k, s, d, b in zip(out_shape[:-1], layer.kernel_size, layer.strides, layer.dilation_rate, before)]
    index, valid = np.zeros((1, 1), np.int64), np.ones((1, 1), bool)
    stride = C
    for axis in reversed(range(len(spatial))):  # the last axis varies fastest in both orders
        c = coords[axis]
        inside = (c >= 0) & (c < spatial[axis])
        # (outer positions, inner positions) x (outer kernel, inner kernel): new axis outermost
        index = (c[:, None, :, None] * stride + index[None, :, None, :]).reshape(c.shape[0] * index.shape[0], -1)
        valid = (inside[:, None, :, None] & valid[None, :, None, :]).reshape(index.shape)
        stride *= spatial[axis]
    index = index[:, :, None] + np.arange(C)[None, None, :]
    index = np.where(valid[:, :, None], index, size).reshape(-1)
    flat = g.op("Reshape", [x, g.int64([-1, size], f"{n}/flat_shape")], f"{n}/flat")
    zero = g.op("Mul", [g.op("Slice", [flat, g.int64([0], f"{n}/s0"), g.int64([1], f"{n}/s1"),
                                       g.int64([1], f"{n}/s_axis")], f"{n}/first"),
                        g.const(np.float32(0), f"{n}/zero")], f"{n}/zeros")
    padded = g.op("Concat", [flat, zero], f"{n}/padded", axis=1)
    cols = g.op("Gather", [padded, g.const(index, f"{n}/im2col_index")], f"{n}/im2col", axis=1)
    window = math.prod(layer.kernel_size) * C
    return g.op("Reshape", [cols, g.int64([-1, math.prod(out_shape[:-1]), window], f"{n}/rows_shape")],
                f"{n}/rows")


def unflatten_positions(g, layer, y, node):
    """(batch, positions, filters) -> the layer's output shape."""
    return g.op("Reshape", [y, g.int64([-1] + list(node.outputs[0].shape[1:]), f"{layer.name}/out_shape")],
                f"{layer.name}/unflatten")


def conv(g, layer, ins, node):
    rank = layer.rank
    n = layer.name
    w = layer.kernel.numpy()
    w = np.transpose(w, [rank + 1, rank] + list(range(rank)))  # (*k, Cg, F) -> (F, Cg, *k)
    inputs = [g.const(w, f"{n}/kernel")] + ([g.const(layer.bias.numpy(), f"{n}/bias")] if layer.use_bias else [])
    attrs = {"kernel_shape": list(layer.kernel_size), "strides": list(layer.strides),
             "dilations": list(layer.dilation_rate), "group": layer.groups,
             **_pad_attrs(node, layer.kernel_size, layer.strides, layer.dilation_rate, layer.padding)}
    y = _windowed(g, layer, ins[0], node, "Conv", attrs, inputs)
    return [g.activation(y, layer.activation, f"{n}/{layer.activation}")]


def conv_transpose(g, layer, ins, node):
    rank = layer.rank
    n = layer.name
    w = np.transpose(layer.kernel.numpy(), [rank + 1, rank] + list(range(rank)))  # (*k, F, C) -> (C, F, *k)
    ops = layer.output_padding or (None,) * rank
    begin, end, extra = [], [], []
    for k, s, d, p in zip(layer.kernel_size, layer.strides, layer.dilation_rate, ops):
        left, right = conv_variants.transpose_pads(k, s, d, layer.padding, p)
        eff = (k - 1) * d + 1
        begin.append(eff - 1 - left)
        e = eff - 1 - right
        end.append(max(0, e))
        extra.append(max(0, -e))
    inputs = [g.const(w, f"{n}/kernel")] + ([g.const(layer.bias.numpy(), f"{n}/bias")] if layer.use_bias else [])
    attrs = {"kernel_shape": list(layer.kernel_size), "strides": list(layer.strides),
             "dilations": list(layer.dilation_rate), "pads": begin + end, "output_padding": extra}
    y = _windowed(g, layer, ins[0], node, "ConvTranspose", attrs, inputs)
    return [g.activation(y, layer.activation, f"{n}/{layer.activation}")]


def _depthwise_attrs(layer, node, kernel):
    rank = layer.rank
    C = node.inputs[0].shape[-1]
    M = layer.depth_multiplier
    w = kernel.reshape(kernel.shape[:rank] + (1, C * M))
    w = np.transpose(w, [rank + 1, rank] + list(range(rank)))  # (C*M, 1, *k)
    attrs = {"kernel_shape": list(layer.kernel_size), "strides": list(layer.strides),
             "dilations": list(layer.dilation_rate), "group": C,
             **_pad_attrs(node, layer.kernel_size, layer.strides, layer.dilation_rate, layer.padding)}
    return w, attrs


def depthwise(g, layer, ins, node):
    n = layer.name
    w, attrs = _depthwise_attrs(layer, node, layer.kernel.numpy())
    inputs = [g.const(w, f"{n}/kernel")] + ([g.const(layer.bias.numpy(), f"{n}/bias")] if layer.use_bias else [])
    y = _windowed(g, layer, ins[0], node, "Conv", attrs, inputs)
    return [g.activation(y, layer.activation, f"{n}/{layer.activation}")]


def separable(g, layer, ins, node):
    n = layer.name
    rank = layer.rank
    w, attrs = _depthwise_attrs(layer, node, layer.depthwise_kernel.numpy())
    x = _to_channels_first(g, ins[0], rank, n)
    mid = g.op("Conv", [x, g.const(w, f"{n}/depthwise_kernel")], f"{n}/depthwise", **attrs)
    pw = np.transpose(layer.pointwise_kernel.numpy(), [rank + 1, rank] + list(range(rank)))
    inputs = [mid, g.const(pw, f"{n}/pointwise_kernel")] + (
        [g.const(layer.bias.numpy(), f"{n}/bias")] if layer.use_bias else [])
    y = _to_channels_last(g, g.op("Conv", inputs, f"{n}/pointwise", kernel_shape=[1] * rank), rank, n)
    return [g.activation(y, layer.activation, f"{n}/{layer.activation}")]


def pool(g, layer, ins, node):
    op_type = "MaxPool" if layer.mode == pooling._MAX else "AveragePool"
    attrs = {"kernel_shape": list(layer.pool_size), "strides": list(layer.strides),
             **_pad_attrs(node, layer.pool_size, layer.strides, (1,) * layer.rank, layer.padding)}
    if op_type == "AveragePool":
        attrs["count_include_pad"] = 0  # the padding is not counted, as bigcore
    return [_windowed(g, layer, ins[0], node, op_type, attrs)]


def global_pool(g, layer, ins, node):
    n = layer.name
    rank = layer.rank
    axes = list(range(1, rank + 1))
    mask = g.mask(node.inputs[0]) if layer.supports_masking else None
    if mask is not None:  # sum over the kept steps / their count
        m = g.op("Unsqueeze", [g.op("Cast", [mask], f"{n}/mask_f", to=g.onnx.TensorProto.FLOAT),
                               g.int64([-1], f"{n}/last")], f"{n}/mask_col")
        keep = int(layer.keepdims)
        s = g.op("ReduceSum", [g.op("Mul", [ins[0], m], f"{n}/masked"), g.int64(axes, f"{n}/axes")], f"{n}/sum",
                 keepdims=keep)
        c = g.op("ReduceSum", [m, g.int64(axes, f"{n}/axes_m")], f"{n}/count", keepdims=keep)
        return [g.op("Div", [s, c], n)]
    if layer.mode == pooling._MAX:
        y = g.op("ReduceMax", [ins[0]] + ([g.int64(axes, f"{n}/axes")] if g.opset >= 18 else []), n,
                 keepdims=int(layer.keepdims), **({} if g.opset >= 18 else {"axes": axes}))
    else:
        y = g.op("ReduceMean", [ins[0]] + ([g.int64(axes, f"{n}/axes")] if g.opset >= 18 else []), n,
                 keepdims=int(layer.keepdims), **({} if g.opset >= 18 else {"axes": axes}))
    return [y]


def batch_norm(g, layer, ins, node):
    """Inference: y = x * s + t per channel (the moving statistics)."""
    n = layer.name
    inv = 1.0 / np.sqrt(layer.moving_variance.numpy().astype(np.float64) + layer.epsilon)
    s = inv * (layer.gamma.numpy() if layer.scale else 1.0)
    t = -layer.moving_mean.numpy() * s + (layer.beta.numpy() if layer.center else 0.0)
    y = g.op("Mul", [ins[0], g.const(s.astype(np.float32), f"{n}/scale")], f"{n}/mul")
    return [g.op("Add", [y, g.const(t.astype(np.float32), f"{n}/shift")], n)]


def relu(g, layer, ins, node):
    n = layer.name
    x = ins[0]
    slope = layer.negative_slope
    mx = getattr(layer, "max_value", None)
    t = getattr(layer, "threshold", 0.0)
    if t == 0.0 and mx is None:
        return [g.op("LeakyRelu", [x], n, alpha=float(slope)) if slope else g.op("Relu", [x], n)]
    f = np.float32
    pos = g.op("Where", [g.op("Greater", [x, g.const(f(t), f"{n}/t")], f"{n}/above"), x, g.const(f(0), f"{n}/zero")],
               f"{n}/pos")
    pos = g.op("Clip", [pos, g.const(f(0), f"{n}/lo"), g.const(f(np.inf if mx is None else mx), f"{n}/hi")],
               f"{n}/clip")
    if not slope:
        return [g.op("Identity", [pos], n)]
    neg = g.op("Relu", [g.op("Sub", [g.const(f(t), f"{n}/t2"), x], f"{n}/below")], f"{n}/neg")
    return [g.op("Sub", [pos, g.op("Mul", [neg, g.const(f(slope), f"{n}/slope")], f"{n}/scaled")], n)]


def elu(g, layer, ins, node):
    return [g.op("Elu", [ins[0]], layer.name, alpha=float(layer.alpha))]


def prelu(g, layer, ins, node):
    return [g.op("PRelu", [ins[0], g.const(layer.alpha.numpy(), f"{layer.name}/alpha")], layer.name)]


def softmax(g, layer, ins, node):
    n = layer.name
    mask = g.mask(node.inputs[0])
    x = ins[0]
    if mask is not None:
        x = g.op("Where", [mask, x, g.const(np.float32(-1e9), f"{n}/neg")], f"{n}/masked")
    y = g.op("Softmax", [x], f"{n}/softmax", axis=layer.axis)
    if mask is not None:
        y = g.op("Where", [mask, y, g.const(np.float32(0), f"{n}/zero")], f"{n}/zeroed")
    return [g.op("Identity", [y], n)]


def _mean(g, x, axes, hint):
    return g.op("ReduceMean", [x] + ([g.int64(axes, f"{hint}_axes")] if g.opset >= 18 else []), hint, keepdims=1,
                **({} if g.opset >= 18 else {"axes": axes}))


def group_norm(g, layer, ins, node):
    """Reshape (batch, P, G, C/G), moments over P and C/G, back; then gamma and beta per channel."""
    n = layer.name
    shape = node.inputs[0].shape
    C, G = shape[-1], layer.groups
    P = math.prod(shape[1:-1])
    x = g.op("Reshape", [ins[0], g.int64([-1, P, G, C // G], f"{n}/grouped_shape")], f"{n}/grouped")
    mean = _mean(g, x, [1, 3], f"{n}/mean")
    xc = g.op("Sub", [x, mean], f"{n}/centered")
    var = _mean(g, g.op("Mul", [xc, xc], f"{n}/sq"), [1, 3], f"{n}/var")
    inv = g.op("Reciprocal", [g.op("Sqrt", [g.op("Add", [var, g.const(np.float32(layer.epsilon), f"{n}/eps")],
                                                  f"{n}/var_eps")], f"{n}/std")], f"{n}/inv")
    y = g.op("Reshape", [g.op("Mul", [xc, inv], f"{n}/normed"), g.int64([-1] + list(shape[1:]), f"{n}/shape")],
             f"{n}/back")
    if layer.scale:
        y = g.op("Mul", [y, g.const(layer.gamma.numpy(), f"{n}/gamma")], f"{n}/scaled")
    if layer.center:
        y = g.op("Add", [y, g.const(layer.beta.numpy(), f"{n}/beta")], f"{n}/shifted")
    return [g.op("Identity", [y], n)]


def unit_norm(g, layer, ins, node):
    n = layer.name
    axes = normalization._trailing_axes(layer.axis, node.inputs[0].shape, n)
    ss = g.op("ReduceSumSquare", [ins[0]] + ([g.int64(axes, f"{n}/axes")] if g.opset >= 18 else []), f"{n}/ss",
              keepdims=1, **({} if g.opset >= 18 else {"axes": axes}))
    inv = g.op("Min", [g.op("Reciprocal", [g.op("Sqrt", [ss], f"{n}/norm")], f"{n}/inv"),
                       g.const(np.float32(1e12), f"{n}/cap")], f"{n}/inv_capped")
    return [g.op("Mul", [ins[0], inv], n)]


def index_map(g, layer, ins, node):
    """The layer's per-sample index map as one Gather over (batch, values + a trailing 0); over run-time
    sizes, the Pad or Slice its primitives are."""
    n = layer.name
    shape = tuple(node.inputs[0].shape[1:])
    if None in shape:
        prims = layer._run_time_prims() if layer.supports_variable_length else []
        if len(prims) != 1 or prims[0][0] not in ("pad", "slice"):
            raise NotImplementedError(f"ONNX export of layer {n!r} ({type(layer).__name__}) over run-time sizes has "
                                      f"no rule (input shape {shape_str(node.inputs[0].shape)}); give the Input "
                                      "fixed sizes")
        kind, attrs, _ = prims[0]
        if kind == "pad":
            width = np.asarray(attrs["pad_width"], np.int64)
            pads = g.int64(list(width[:, 0]) + list(width[:, 1]), f"{n}/pads")
            return [g.op("Pad", [ins[0], pads], n, mode="constant")]
        big = np.iinfo(np.int64).max
        axes = [i for i, a in enumerate(attrs["start"]) if a is not None]
        starts = [attrs["start"][i] for i in axes]
        ends = [big if attrs["stop"][i] is None else attrs["stop"][i] for i in axes]
        return [g.op("Slice", [ins[0], g.int64(starts, f"{n}/starts"), g.int64(ends, f"{n}/ends"),
                               g.int64(axes, f"{n}/axes")], n)]
    ids = layer._move(np.arange(math.prod(shape), dtype=np.int64).reshape(shape)).reshape(-1)
    flat = g.op("Reshape", [ins[0], g.int64([-1, math.prod(shape)], f"{n}/flat_shape")], f"{n}/flat")
    zero = g.op("Mul", [g.op("Slice", [flat, g.int64([0], f"{n}/s0"), g.int64([1], f"{n}/s1"),
                                       g.int64([1], f"{n}/s_axis")], f"{n}/first"),
                        g.const(np.float32(0), f"{n}/zero")], f"{n}/zeros")
    padded = g.op("Concat", [flat, zero], f"{n}/padded", axis=1)
    ids = np.where(ids < 0, math.prod(shape), ids)
    y = g.op("Gather", [padded, g.const(ids, f"{n}/index")], f"{n}/gather", axis=1)
    return [g.op("Reshape", [y, g.int64([-1] + list(node.outputs[0].shape[1:]), f"{n}/out_shape")], n)]


def mask_values(g, layer, ins, node):
    n = layer.name
    keep = g.op("Not", [g.op("Equal", [ins[0], g.const(np.float32(layer.mask_value), f"{n}/value")], f"{n}/eq")],
                f"{n}/ne")
    keep_f = g.op("Cast", [keep], f"{n}/ne_f", to=g.onnx.TensorProto.FLOAT)
    any_f = g.op("ReduceMax", [keep_f] + ([g.int64([-1], f"{n}/last")] if g.opset >= 18 else []), f"{n}/any",
                 keepdims=1, **({} if g.opset >= 18 else {"axes": [-1]}))
    g.bind(node.outputs[0]._mask, g.op("Cast", [g.op("Squeeze", [any_f, g.int64([-1], f"{n}/sq_axis")], f"{n}/m")],
                                       f"{n}/mask", to=g.onnx.TensorProto.BOOL))
    return [g.op("Mul", [ins[0], any_f], n)]


def identity(g, layer, ins, node):
    return [ins[0]]


def time_distributed(g, layer, ins, node):
    """(batch, T, ...) -> (batch * T, ...), the wrapped layer's rule, back to (batch, T, ...)."""
    n = layer.name
    x_kt, y_kt = node.inputs[0], node.outputs[0]
    T = x_kt.shape[1]
    inner_in = KerasTensor((None,) + tuple(x_kt.shape[2:]))
    inner_out = KerasTensor((None,) + tuple(y_kt.shape[2:]))
    inner_node = Node(layer.layer, [inner_in], [inner_out])
    folded = g.op("Reshape", [ins[0], g.int64([-1] + list(x_kt.shape[2:]), f"{n}/fold_shape")], f"{n}/fold")
    rule = rule_for(layer.layer)
    y = rule(g, layer.layer, [folded], inner_node)[0]
    if T is None:  # a run-time length: read from the model input it comes from
        shape = g.op("Concat", [g.int64([-1], f"{n}/unfold_b"), g.length(x_kt.full_dims[1], f"{n}/unfold_t"),
                                g.int64(list(y_kt.shape[2:]), f"{n}/unfold_rest")], f"{n}/unfold_shape", axis=0)
    else:
        shape = g.int64([-1, T] + list(y_kt.shape[2:]), f"{n}/unfold_shape")
    return [g.op("Reshape", [y, shape], n)]


def rules():
    """{exact layer class: rule} for onnx_layers.converter."""
    r = {convolutional.Conv1D: conv, convolutional.Conv2D: conv,
         conv_variants.Conv1DTranspose: conv_transpose, conv_variants.Conv2DTranspose: conv_transpose,
         conv_variants.DepthwiseConv1D: depthwise, conv_variants.DepthwiseConv2D: depthwise,
         conv_variants.SeparableConv1D: separable, conv_variants.SeparableConv2D: separable,
         normalization.BatchNormalization: batch_norm,
         normalization.GroupNormalization: group_norm, normalization.UnitNormalization: unit_norm,
         act_layers.ReLU: relu, act_layers.LeakyReLU: relu, act_layers.ELU: elu, act_layers.PReLU: prelu,
         act_layers.Softmax: softmax, masking_layer.Masking: mask_values, wrappers.TimeDistributed: time_distributed,
         identity_layer.Identity: identity}
    for cls in (pooling.MaxPooling1D, pooling.MaxPooling2D, pooling.AveragePooling1D, pooling.AveragePooling2D):
        r[cls] = pool
    for cls in (pooling.GlobalAveragePooling2D, pooling.GlobalMaxPooling2D):  # the 1-D ones: onnx_transformer
        r[cls] = global_pool
    for cls in (reshaping.RepeatVector, reshaping.Permute, reshaping.ZeroPadding1D, reshaping.ZeroPadding2D,
                reshaping.Cropping1D, reshaping.Cropping2D, reshaping.UpSampling1D, reshaping.UpSampling2D):
        r[cls] = index_map
    for cls in (noise.GaussianNoise, noise.GaussianDropout, noise.AlphaDropout, noise.SpatialDropout1D,
                noise.SpatialDropout2D):
        r[cls] = identity
    return r


_rule_lookup = None


def set_rule_lookup(fn):
    """onnx_layers installs its converter here, for TimeDistributed's wrapped layer."""
    global _rule_lookup
    _rule_lookup = fn


def rule_for(layer):
    return _rule_lookup(layer)
