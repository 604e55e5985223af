"""ONNX rules for the Transformer layers: EinsumDense (and its int8 twin), MultiHeadAttention,
GroupQueryAttention and Attention (MatMul / Softmax, the masks as a Where), LayerNormalization
(ONNX's LayerNormalization op), RMSNormalization and the global 1-D poolings (reductions).
"""

import math

import numpy as np

from bigcore.layers import attention, dims, global_pooling, layer_normalization
from bigcore.layers.einsum_dense import EinsumDense

_BLANK = np.float32(-3.38953e38 * 0.7)  # what a fused kernel adds to a blanked score (Keras's torch backend)


def _shape_of(layer):
    """(output axes the GEMM keeps, the kernel's new axes) of an EinsumDense."""
    full = layer.full_output_shape
    return len(full) - layer._n_new, tuple(full[len(full) - layer._n_new:])


def flatten_in(g, layer, x):
    """(..., contracted axes) -> (..., K): the input an EinsumDense's GEMM reads."""
    lead, _ = _shape_of(layer)
    return g.op("Reshape", [x, g.int64([0] * lead + [layer._K], f"{layer.name}/flat_shape")], f"{layer.name}/flat")


def unflatten_out(g, layer, y):
    """(..., N) -> (..., new axes): the EinsumDense's output."""
    lead, new = _shape_of(layer)
    return g.op("Reshape", [y, g.int64([0] * lead + list(new), f"{layer.name}/out_shape")], f"{layer.name}/out")


def einsum_dense(g, layer, ins, node=None):
    """A float EinsumDense; an int8 one goes through onnx_layers (the int8 GEMM's rule)."""
    if type(layer) is not EinsumDense:
        return g.rules[type(layer)](g, layer, ins, node)
    n = layer.name
    w = layer.kernel.numpy().reshape(layer._K, layer._N)
    y = g.op("MatMul", [flatten_in(g, layer, ins[0]), g.const(w, f"{n}/kernel")], f"{n}/matmul")
    if layer.bias is not None:
        y = g.op("Add", [y, g.const(layer.bias.numpy().reshape(-1), f"{n}/bias")], f"{n}/bias_add")
    return [unflatten_out(g, layer, g.activation(y, layer.activation, f"{n}/{layer.activation}"))]


def causal(g, n, t, s):
    """The bool (T, S) tril(ones) of a causal mask: a constant, or Trilu over run-time lengths (Dims)."""
    if not dims.is_dim(t) and not dims.is_dim(s):
        return g.const(np.tril(np.ones((t, s), bool)), f"{n}/causal")
    ones = g.op("Expand", [g.const(np.float32(1), f"{n}/one"), g.shape_value((t, s), f"{n}/causal_shape")],
                f"{n}/causal_ones")
    return g.op("Cast", [g.op("Trilu", [ones], f"{n}/causal_tril", upper=0)], f"{n}/causal", to=g.onnx.TensorProto.BOOL)


def _allow(g, n, q_len, s_len, qmask=None, kmasks=(), amask=None, causal_mask=False, amask_rank=3):
    """The bool (batch or 1, 1, Tq, S) of the pairs every mask allows, or None when nothing is masked.
    q_len, s_len: ints or run-time lengths (Dims); amask: (B, Tq, S) or a shape that broadcasts to it."""
    allow = None

    def both(a, b, hint):
        return b if a is None else g.op("And", [a, b], hint)

    def as_bool(m, hint):  # a mask computed by ops inside a custom call() is a float tensor of the graph
        return g.op("Cast", [m], hint, to=g.onnx.TensorProto.BOOL)

    if qmask is not None:  # (B, Tq) -> (B, 1, Tq, 1)
        q4 = g.op("Unsqueeze", [as_bool(qmask, f"{n}/qmask_b"), g.int64([1, 3], f"{n}/q_axes")], f"{n}/qmask4")
        allow = both(allow, q4, f"{n}/and_q")
    for i, km in enumerate(kmasks):  # (B, S) -> (B, 1, 1, S)
        k4 = g.op("Unsqueeze", [as_bool(km, f"{n}/kmask_b{i}"), g.int64([1, 2], f"{n}/k_axes{i}")], f"{n}/kmask4_{i}")
        allow = both(allow, k4, f"{n}/and_k{i}")
    if amask is not None:  # (B, Tq, S) float -> bool (B, 1, Tq, S); a 2-D (Tq, S) -> (1, 1, Tq, S)
        zero = g.const(np.float32(0), f"{n}/zero")
        a = g.op("Not", [g.op("Equal", [amask, zero], f"{n}/amask_zero")], f"{n}/amask_bool")
        axes = [1] if amask_rank == 3 else [0, 1]
        allow = both(allow, g.op("Unsqueeze", [a, g.int64(axes, f"{n}/a_axes")], f"{n}/amask4"), f"{n}/and_a")
    if causal_mask:
        tri = g.op("Unsqueeze", [causal(g, n, q_len, s_len), g.int64([0, 1], f"{n}/c_axes")], f"{n}/causal4")
        allow = both(allow, tri, f"{n}/and_causal")
    return allow


def attend(g, n, q, k, v, scale, allow, zero_rows):
    """q (B, N, Tq, H), k (B, N, S, H), v (B, N, S, Hv) -> (output (B, N, Tq, Hv), weights)."""
    kt = g.op("Transpose", [k], f"{n}/k_t", perm=[0, 1, 3, 2])
    if scale != 1.0:
        q = g.op("Mul", [q, g.const(np.float32(scale), f"{n}/scale")], f"{n}/q_scaled")
    s = g.op("MatMul", [q, kt], f"{n}/scores")
    if allow is not None:
        s = g.op("Where", [allow, s, g.const(_BLANK, f"{n}/blank")], f"{n}/masked_scores")
    p = g.op("Softmax", [s], f"{n}/weights", axis=-1)
    if allow is not None and zero_rows:  # Keras's explicit path: a blanked pair (and row) weighs 0
        p = g.op("Where", [allow, p, g.const(np.float32(0), f"{n}/zero_w")], f"{n}/weights_masked")
    return g.op("MatMul", [p, v], f"{n}/context"), p


def heads_first(g, x, hint):
    return g.op("Transpose", [x], hint, perm=[0, 2, 1, 3])


def repeat_heads(g, x, groups, heads, dim, hint):
    """(B, S, Nkv, H) -> (B, S, Nkv * groups, H), each head repeated `groups` times in place."""
    if groups == 1:
        return x
    x5 = g.op("Unsqueeze", [x, g.int64([3], f"{hint}/axis")], f"{hint}/5d")
    bsn = g.op("Slice", [g.op("Shape", [x], f"{hint}/shape"), g.int64([0], f"{hint}/s0"), g.int64([3], f"{hint}/s3")],
               f"{hint}/bsn")
    shape = g.op("Concat", [bsn, g.int64([groups, dim], f"{hint}/gd")], f"{hint}/expand_shape", axis=0)
    x5 = g.op("Expand", [x5, shape], f"{hint}/expanded")
    return g.op("Reshape", [x5, g.int64([0, 0, heads, dim], f"{hint}/merged_shape")], f"{hint}/repeated")


def multi_head_attention(g, layer, ins, node):
    n = layer.name
    args = node.call_args
    ids = dict(zip(args["tensors"], ins))
    kts = dict(zip(args["tensors"], node.inputs))
    qk, vk = kts["query"], kts["value"]
    if len(qk.shape) != 3:
        raise NotImplementedError(f"ONNX export of {type(layer).__name__} {n!r} on inputs of rank {len(qk.shape)} is "
                                  "not supported (only (batch, steps, features) inputs)")
    q = einsum_dense(g, layer.query_dense, [ids["query"]])[0]
    k = einsum_dense(g, layer.key_dense, [ids.get("key", ids["value"])])[0]
    v = einsum_dense(g, layer.value_dense, [ids["value"]])[0]
    Nq, Nkv, H, Hv = layer._heads()
    k = repeat_heads(g, k, Nq // Nkv, Nq, H, f"{n}/k_rep")
    v = repeat_heads(g, v, Nq // Nkv, Nq, Hv, f"{n}/v_rep")
    qmask = ids.get("query_mask", g.mask(qk))
    kmasks = [m for m in (ids.get("value_mask", g.mask(vk)),
                          ids.get("key_mask", g.mask(kts["key"]) if "key" in kts else None)) if m is not None]
    allow = _allow(g, n, qk._dims[0], vk._dims[0], qmask, kmasks, ids.get("attention_mask"), args["use_causal_mask"],
                   len(kts["attention_mask"].shape) if "attention_mask" in kts else 3)
    scores = args["return_attention_scores"]
    ctx, p = attend(g, n, heads_first(g, q, f"{n}/q_t"), heads_first(g, k, f"{n}/k_heads"),
                    heads_first(g, v, f"{n}/v_t"), 1.0 / math.sqrt(H), allow, layer.dropout > 0 or scores)
    out = einsum_dense(g, layer.output_dense, [heads_first(g, ctx, f"{n}/ctx_t")])[0]
    return [out, p] if scores else [out]


def dot_attention(g, layer, ins, node):
    """Keras's Attention: one head; the query mask zeroes output rows, a row with every key blanked
    is uniform (Keras's -1e9 in float32)."""
    n = layer.name
    args = node.call_args
    ids = dict(zip(args["tensors"], ins))
    kts = dict(zip(args["tensors"], node.inputs))
    q, v = ids["query"], ids["value"]
    k = ids.get("key", v)
    if layer.scale is not None:
        q = g.op("Mul", [q, g.const(layer.scale.numpy().astype(np.float32), f"{n}/scale_w")], f"{n}/q_scaled")
    one = g.int64([1], f"{n}/head_axis")
    q4, k4, v4 = (g.op("Unsqueeze", [t, one], f"{n}/{h}4") for t, h in ((q, "q"), (k, "k"), (v, "v")))
    vm = ids.get("value_mask", g.mask(kts["value"]))
    allow = _allow(g, n, kts["query"]._dims[0], kts["value"]._dims[0], None, [vm] if vm is not None else [], None,
                   args["use_causal_mask"])
    ctx, p = attend(g, n, q4, k4, v4, 1.0, allow, False)
    sq = g.int64([1], f"{n}/squeeze_axis")
    out = g.op("Squeeze", [ctx, sq], f"{n}/context3")
    qm = ids.get("query_mask", g.mask(kts["query"]))
    if qm is not None:
        keep = g.op("Unsqueeze", [qm, g.int64([2], f"{n}/qm_axis")], f"{n}/qmask3")
        out = g.op("Where", [keep, out, g.const(np.float32(0), f"{n}/zero")], f"{n}/out")
    if args["return_attention_scores"]:
        return [out, g.op("Squeeze", [p, sq], f"{n}/weights3")]
    return [out]


def layer_norm(g, layer, ins, node):
    n = layer.name
    x = ins[0]
    rank = len(node.inputs[0].shape)
    first = min(a % rank for a in layer.axis)
    shape = node.inputs[0].shape[first:]
    gamma = layer.gamma.numpy() if layer.gamma is not None else np.ones(shape, np.float32)
    inputs = [x, g.const(gamma, f"{n}/gamma")]
    if layer.beta is not None:
        inputs.append(g.const(layer.beta.numpy(), f"{n}/beta"))
    return [g.op("LayerNormalization", inputs, n, axis=first, epsilon=float(layer.epsilon))]


def _reduce(g, op, x, axes, hint, keepdims=1):
    """Reduce{Mean,Sum,Max} over `axes`: an attribute before opset 18 (ReduceSum: 13), an input after."""
    as_input = g.opset >= (13 if op == "ReduceSum" else 18)
    if as_input:
        return g.op(op, [x, g.int64(list(axes), f"{hint}_axes")], hint, keepdims=keepdims)
    return g.op(op, [x], hint, axes=list(axes), keepdims=keepdims)


def rms_norm(g, layer, ins, node):
    n = layer.name
    rank = len(node.inputs[0].shape)
    axes = sorted(a % rank for a in layer.axis)
    ms = _reduce(g, "ReduceMean", g.op("Mul", [ins[0], ins[0]], f"{n}/sq"), axes, f"{n}/mean_sq")
    rms = g.op("Sqrt", [g.op("Add", [ms, g.const(np.float32(layer.epsilon), f"{n}/eps")], f"{n}/plus_eps")],
               f"{n}/rms")
    y = g.op("Div", [ins[0], rms], f"{n}/normalized")
    return [g.op("Mul", [y, g.const(layer.scale.numpy(), f"{n}/scale")], n)]


def global_pool(g, layer, ins, node):
    n = layer.name
    steps = 1 if layer.data_format == "channels_last" else 2
    keep = int(layer.keepdims)
    if isinstance(layer, global_pooling.GlobalMaxPooling1D):
        return [_reduce(g, "ReduceMax", ins[0], [steps], n, keep)]
    mask = g.mask(node.inputs[0])
    if mask is None:
        return [_reduce(g, "ReduceMean", ins[0], [steps], n, keep)]
    m = g.op("Cast", [g.op("Unsqueeze", [mask, g.int64([3 - steps], f"{n}/m_axis")], f"{n}/mask3")], f"{n}/maskf",
             to=g.onnx.TensorProto.FLOAT)
    total = _reduce(g, "ReduceSum", g.op("Mul", [ins[0], m], f"{n}/masked"), [steps], f"{n}/sum", keep)
    return [g.op("Div", [total, _reduce(g, "ReduceSum", m, [steps], f"{n}/count", keep)], n)]


def rules():
    return {EinsumDense: einsum_dense, attention.MultiHeadAttention: multi_head_attention, attention.GroupQueryAttention: multi_head_attention,
            attention.Attention: dot_attention, layer_normalization.LayerNormalization: layer_norm,
            layer_normalization.RMSNormalization: rms_norm, global_pooling.GlobalAveragePooling1D: global_pool,
            global_pooling.GlobalMaxPooling1D: global_pool}
