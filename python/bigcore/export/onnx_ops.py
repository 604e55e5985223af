"""ONNX rules for the recorded primitives of bigcore.ops (OpLayer nodes: `x + y`, ops.matmul, ...),
by primitive kind. Each rule takes (graph, layer, input values, node) and returns the output values.

Every value is float32, as in the native program (bools are 0/1, ints integer-valued floats):
comparisons and logical ops cast their ONNX bool results back to float, indices are cast to
int64 where ONNX wants them. Lengths a rule needs (reshape's target, broadcast_to's, zeros_like's)
come from the tensors' templates: constants, the batch, or a model input's run-time length
(Graph.shape_value). A primitive without a rule raises NotImplementedError naming it.
"""

import numpy as np

from bigcore.export import onnx_transformer
from bigcore.layers import dims
from bigcore.layers.dims import BATCH

INT64_MAX, INT64_MIN = np.iinfo(np.int64).max, np.iinfo(np.int64).min
SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def _f(g, v, hint):
    return g.const(np.float32(v), hint)


def _to_float(g, x, hint):
    return g.op("Cast", [x], hint, to=g.onnx.TensorProto.FLOAT)


def _to_bool(g, x, hint):
    return g.op("Cast", [x], hint, to=g.onnx.TensorProto.BOOL)


def _ids(g, x, hint):
    return g.op("Cast", [x], hint, to=g.onnx.TensorProto.INT64)


def _ndim(node, i=0):
    return len(node.inputs[i].full_dims)


def _axes(axis, nd):
    """None -> every axis; an int or a list -> non-negative axes."""
    if axis is None:
        return list(range(nd))
    axis = axis if isinstance(axis, (list, tuple)) else [axis]
    return sorted(a % nd for a in axis)


# -- elementwise --------------------------------------------------------------------------------

_UNARY = {"negative": "Neg", "abs": "Abs", "sqrt": "Sqrt", "exp": "Exp", "log": "Log", "sin": "Sin", "cos": "Cos",
          "reciprocal": "Reciprocal", "relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "softplus": "Softplus",
          "softsign": "Softsign", "erf": "Erf", "sign": "Sign", "floor": "Floor", "ceil": "Ceil", "round": "Round",
          "hard_silu": "HardSwish", "hard_swish": "HardSwish"}
_BINARY = {"add": "Add", "subtract": "Sub", "multiply": "Mul", "divide": "Div", "power": "Pow", "maximum": "Max",
           "minimum": "Min"}
_COMPARE = {"equal": "Equal", "greater": "Greater", "greater_equal": "GreaterOrEqual", "less": "Less",
            "less_equal": "LessOrEqual"}
_LOGICAL = {"logical_and": "And", "logical_or": "Or", "logical_xor": "Xor"}


def unary(g, layer, ins, node):
    n, x, k, a = layer.name, ins[0], layer.kind, layer.attrs
    if k in _UNARY:
        return [g.op(_UNARY[k], [x], n)]
    if k in ("identity", "stop_gradient", "dropout"):  # dropout: inference
        return [g.op("Identity", [x], n)]
    if k == "square":
        return [g.op("Mul", [x, x], n)]
    if k == "rsqrt":
        return [g.op("Reciprocal", [g.op("Sqrt", [x], f"{n}/sqrt")], n)]
    if k == "expm1":
        return [g.op("Sub", [g.op("Exp", [x], f"{n}/exp"), _f(g, 1, f"{n}/one")], n)]
    if k == "log1p":
        return [g.op("Log", [g.op("Add", [x, _f(g, 1, f"{n}/one")], f"{n}/x1")], n)]
    if k == "relu6":
        return [g.op("Clip", [x, _f(g, 0, f"{n}/lo"), _f(g, 6, f"{n}/hi")], n)]
    if k == "clip":
        return [g.op("Clip", [x, _f(g, a["x_min"], f"{n}/lo"), _f(g, a["x_max"], f"{n}/hi")], n)]
    if k == "gelu":
        return [g.activation(x, "gelu_approximate" if a.get("approximate", True) else "gelu", n)]
    if k in ("silu", "swish"):
        return [g.activation(x, "silu", n)]
    if k == "log_sigmoid":  # -softplus(-x)
        return [g.op("Neg", [g.op("Softplus", [g.op("Neg", [x], f"{n}/neg")], f"{n}/sp")], n)]
    if k == "selu":
        return [g.op("Selu", [x], n, alpha=SELU_ALPHA, gamma=SELU_SCALE)]
    if k == "elu":
        return [g.op("Elu", [x], n, alpha=float(a.get("alpha", 1.0)))]
    if k == "leaky_relu":
        return [g.op("LeakyRelu", [x], n, alpha=float(a.get("negative_slope", 0.2)))]
    if k == "hard_sigmoid":  # relu6(x + 3) / 6
        return [g.op("HardSigmoid", [x], n, alpha=1.0 / 6.0, beta=0.5)]
    if k == "logical_not":
        return [_to_float(g, g.op("Not", [_to_bool(g, x, f"{n}/b")], f"{n}/not"), n)]
    if k == "cast":
        return [_cast(g, x, a["dtype"], n)]
    raise KeyError(k)


def _cast(g, x, dtype, n):
    T = g.onnx.TensorProto
    if dtype in ("float32", "float64"):
        return g.op("Identity", [x], n)
    if dtype == "bool":
        return _to_float(g, _to_bool(g, x, f"{n}/b"), n)
    to = {"int8": T.INT8, "int16": T.INT16, "int32": T.INT32, "int64": T.INT64, "uint8": T.UINT8, "uint16": T.UINT16,
          "uint32": T.UINT32, "uint64": T.UINT64}.get(dtype)
    if to is None:
        raise NotImplementedError(f"ONNX export: cast to {dtype!r} has no rule")
    return _to_float(g, g.op("Cast", [x], f"{n}/{dtype}", to=to), n)


def binary(g, layer, ins, node):
    n, k = layer.name, layer.kind
    a, b = ins
    if k in _BINARY:
        return [g.op(_BINARY[k], [a, b], n)]
    if k == "floor_divide":
        return [g.op("Floor", [g.op("Div", [a, b], f"{n}/div")], n)]
    if k == "mod":  # NumPy: a - floor(a / b) * b (the sign of b)
        q = g.op("Floor", [g.op("Div", [a, b], f"{n}/div")], f"{n}/q")
        return [g.op("Sub", [a, g.op("Mul", [q, b], f"{n}/qb")], n)]
    if k in _COMPARE:
        return [_to_float(g, g.op(_COMPARE[k], [a, b], f"{n}/cmp"), n)]
    if k == "not_equal":
        return [_to_float(g, g.op("Not", [g.op("Equal", [a, b], f"{n}/eq")], f"{n}/ne"), n)]
    if k in _LOGICAL:
        return [_to_float(g, g.op(_LOGICAL[k], [_to_bool(g, a, f"{n}/a"), _to_bool(g, b, f"{n}/b")], f"{n}/l"), n)]
    raise KeyError(k)


def where(g, layer, ins, node):
    return [g.op("Where", [_to_bool(g, ins[0], f"{layer.name}/cond"), ins[1], ins[2]], layer.name)]


def softmax(g, layer, ins, node):
    """Softmax / LogSoftmax over one axis; a mask input adds -1e9 to the logits where it is 0."""
    n, x = layer.name, ins[0]
    if len(ins) > 1:
        off = g.op("Equal", [ins[1], _f(g, 0, f"{n}/zero")], f"{n}/masked")
        x = g.op("Add", [x, g.op("Mul", [_to_float(g, off, f"{n}/masked_f"), _f(g, -1e9, f"{n}/big")], f"{n}/pen")],
                 f"{n}/logits")
    op = "Softmax" if layer.kind == "softmax" else "LogSoftmax"
    return [g.op(op, [x], n, axis=int(layer.attrs.get("axis", -1)))]


# -- reductions ---------------------------------------------------------------------------------

def reduce(g, op, x, axes, keepdims, hint):
    """An ONNX Reduce* over `axes` (None: all): axes an input from opset 18 (ReduceSum: 13), an
    attribute before."""
    keep = int(bool(keepdims))
    if axes is None:
        return g.op(op, [x], hint, keepdims=keep)
    if op == "ReduceSum" or g.opset >= 18:
        return g.op(op, [x, g.int64(list(axes), f"{hint}_axes")], hint, keepdims=keep)
    return g.op(op, [x], hint, axes=list(axes), keepdims=keep)


def reduction(g, layer, ins, node):
    n, x, k, a = layer.name, ins[0], layer.kind, layer.attrs
    axis, keep = a.get("axis"), a.get("keepdims", False)
    axes = None if axis is None else _axes(axis, _ndim(node))
    simple = {"sum": "ReduceSum", "mean": "ReduceMean", "max": "ReduceMax", "min": "ReduceMin", "prod": "ReduceProd"}
    if k in simple:
        return [reduce(g, simple[k], x, axes, keep, n)]
    if k in ("var", "std"):  # population: mean((x - mean)^2)
        d = g.op("Sub", [x, reduce(g, "ReduceMean", x, axes, True, f"{n}/mean")], f"{n}/centered")
        v = reduce(g, "ReduceMean", g.op("Mul", [d, d], f"{n}/sq"), axes, keep, n if k == "var" else f"{n}/var")
        return [v if k == "var" else g.op("Sqrt", [v], n)]
    if k == "logsumexp":  # max + log(sum(exp(x - max))), the max kept finite
        m = reduce(g, "ReduceMax", x, axes, True, f"{n}/max")
        s = reduce(g, "ReduceSum", g.op("Exp", [g.op("Sub", [x, m], f"{n}/shift")], f"{n}/exp"), axes, keep, f"{n}/sum")
        m = m if keep else (reduce(g, "ReduceMax", x, axes, False, f"{n}/max_out"))
        return [g.op("Add", [g.op("Log", [s], f"{n}/log"), m], n)]
    if k in ("any", "all"):
        nz = _to_float(g, _to_bool(g, x, f"{n}/b"), f"{n}/nz")
        return [reduce(g, "ReduceMax" if k == "any" else "ReduceMin", nz, axes, keep, n)]
    if k == "norm":
        return [_norm(g, x, axes, keep, a.get("ord"), n)]
    if k in ("argmax", "argmin"):
        op = "ArgMax" if k == "argmax" else "ArgMin"
        if axis is None:
            flat = g.op("Reshape", [x, g.int64([-1], f"{n}/flat_shape")], f"{n}/flat")
            i = g.op(op, [flat], f"{n}/i", axis=0, keepdims=int(bool(keep)))
            if keep:  # one length-1 axis per input axis
                i = g.op("Reshape", [i, g.int64([1] * _ndim(node), f"{n}/kshape")], f"{n}/ik")
        else:
            i = g.op(op, [x], f"{n}/i", axis=axes[0], keepdims=int(bool(keep)))
        return [_to_float(g, i, n)]
    raise KeyError(k)


def _norm(g, x, axes, keep, ord_, n):
    if ord_ in (None, 2, "fro"):
        return reduce(g, "ReduceL2", x, axes, keep, n)
    if ord_ == 1:
        return reduce(g, "ReduceL1", x, axes, keep, n)
    if ord_ in (float("inf"), "inf"):
        return reduce(g, "ReduceMax", g.op("Abs", [x], f"{n}/abs"), axes, keep, n)
    if ord_ in (float("-inf"), "-inf"):
        return reduce(g, "ReduceMin", g.op("Abs", [x], f"{n}/abs"), axes, keep, n)
    raise NotImplementedError(f"ONNX export: norm with ord={ord_!r} has no rule")


def cumsum(g, layer, ins, node):
    n, x, axis = layer.name, ins[0], layer.attrs.get("axis")
    if axis is None:
        x, axis = g.op("Reshape", [x, g.int64([-1], f"{n}/flat_shape")], f"{n}/flat"), 0
    return [g.op("CumSum", [x, g.int64(int(axis), f"{n}/axis")], n)]


# -- matmul and layout --------------------------------------------------------------------------

def matmul(g, layer, ins, node):
    return [g.op("MatMul", ins, layer.name)]


def dot_product_attention(g, layer, ins, node):
    """The fused primitive as MatMul / Softmax (onnx_transformer.attend): key/value heads repeated
    for grouped-query attention; the mask and is_causal blank scores with Keras's large negative,
    so a row with nothing to attend gets the mean of the values, as in the kernel."""
    n, a = layer.name, layer.attrs
    qd, kd, vd = (t.full_dims for t in node.inputs[:3])
    groups = qd[2] // kd[2]
    k = onnx_transformer.repeat_heads(g, ins[1], groups, qd[2], qd[3], f"{n}/k_rep")
    v = onnx_transformer.repeat_heads(g, ins[2], groups, qd[2], vd[3], f"{n}/v_rep")
    allow = None if len(ins) < 4 else _to_bool(g, ins[3], f"{n}/mask")
    if a.get("is_causal"):
        tri = onnx_transformer.causal(g, n, qd[1], kd[1])
        allow = tri if allow is None else g.op("And", [allow, tri], f"{n}/mask_and_causal")
    heads = onnx_transformer.heads_first
    ctx, _ = onnx_transformer.attend(g, n, heads(g, ins[0], f"{n}/q_heads"), heads(g, k, f"{n}/k_heads"),
                                     heads(g, v, f"{n}/v_heads"), float(a["scale"]), allow, False)
    return [heads(g, ctx, n)]


def transpose(g, layer, ins, node):
    axes = layer.attrs.get("axes")
    nd = _ndim(node)
    perm = list(range(nd))[::-1] if axes is None else [a % nd for a in axes]
    return [g.op("Transpose", [ins[0]], layer.name, perm=perm)]


def reshape(g, layer, ins, node):
    n = layer.name
    return [g.op("Reshape", [ins[0], g.shape_value(node.outputs[0].full_dims, f"{n}/shape", batch=0)], n)]


def expand_dims(g, layer, ins, node):
    n, axis = layer.name, layer.attrs["axis"]
    axes = _axes(axis, len(node.outputs[0].full_dims))
    return [g.op("Unsqueeze", [ins[0], g.int64(axes, f"{n}/axes")], n)]


def squeeze(g, layer, ins, node):
    n, axis, shape = layer.name, layer.attrs.get("axis"), node.inputs[0].full_dims
    axes = [i for i, d in enumerate(shape) if d == 1] if axis is None else _axes(axis, len(shape))
    return [g.op("Squeeze", [ins[0], g.int64(axes, f"{n}/axes")], n)]


def broadcast_to(g, layer, ins, node):
    n = layer.name
    return [g.op("Expand", [ins[0], g.shape_value(node.outputs[0].full_dims, f"{n}/shape", batch=1)], n)]


def concatenate(g, layer, ins, node):
    return [g.op("Concat", ins, layer.name, axis=int(layer.attrs.get("axis", 0)))]


def stack(g, layer, ins, node):
    n = layer.name
    ax = _axes(layer.attrs.get("axis", 0), _ndim(node) + 1)
    parts = [g.op("Unsqueeze", [x, g.int64(ax, f"{n}/axes{i}")], f"{n}/x{i}") for i, x in enumerate(ins)]
    return [g.op("Concat", parts, n, axis=ax[0])]


def split(g, layer, ins, node):
    n = layer.name
    ax = _axes(layer.attrs.get("axis", 0), _ndim(node))[0]
    sizes = [o.full_dims[ax] for o in node.outputs]
    if any(dims.is_dim(s) for s in sizes):
        raise NotImplementedError(f"ONNX export of op {n!r} (split): a split along a run-time length has no rule")
    outs = g.op("Split", [ins[0], g.int64(sizes, f"{n}/sizes")], n, outputs=len(sizes), axis=ax)
    return outs if isinstance(outs, list) else [outs]


def slice_(g, layer, ins, node):
    n, a = layer.name, layer.attrs
    start, stop, step = a.get("start") or [], a.get("stop") or [], a.get("step") or []
    k = max(len(start), len(stop), len(step))
    starts, ends, steps = [], [], []
    for i in range(k):
        st = step[i] if i < len(step) and step[i] is not None else 1
        s0 = start[i] if i < len(start) else None
        s1 = stop[i] if i < len(stop) else None
        starts.append(s0 if s0 is not None else (0 if st > 0 else INT64_MAX))
        ends.append(s1 if s1 is not None else (INT64_MAX if st > 0 else INT64_MIN))
        steps.append(st)
    args = [g.int64(starts, f"{n}/starts"), g.int64(ends, f"{n}/ends"), g.int64(list(range(k)), f"{n}/axes"),
            g.int64(steps, f"{n}/steps")]
    return [g.op("Slice", [ins[0]] + args, n)]


def flip(g, layer, ins, node):
    n = layer.name
    axes = _axes(layer.attrs.get("axis"), _ndim(node))
    k = len(axes)
    args = [g.int64([-1] * k, f"{n}/starts"), g.int64([INT64_MIN] * k, f"{n}/ends"), g.int64(axes, f"{n}/axes"),
            g.int64([-1] * k, f"{n}/steps")]
    return [g.op("Slice", [ins[0]] + args, n)]


def take(g, layer, ins, node):
    n, x, axis = layer.name, ins[0], layer.attrs.get("axis")
    if axis is None:
        x, axis = g.op("Reshape", [x, g.int64([-1], f"{n}/flat_shape")], f"{n}/flat"), 0
    return [g.op("Gather", [x, _ids(g, ins[1], f"{n}/ids")], n, axis=int(axis) % max(1, _ndim(node)))]


def take_along_axis(g, layer, ins, node):
    """GatherElements; the other axes broadcast first (Expand against 1s where a side has them)."""
    n = layer.name
    xd, idd = node.inputs[0].full_dims, node.inputs[1].full_dims
    ax = int(layer.attrs["axis"]) % len(xd)
    x, ids = ins[0], _ids(g, ins[1], f"{n}/ids")
    if any(a != b for i, (a, b) in enumerate(zip(xd, idd)) if i != ax):
        x = g.op("Expand", [x, g.shape_value([b if (a == 1 and i != ax) else 1 for i, (a, b) in enumerate(zip(xd, idd))],
                                             f"{n}/x_to", batch=1)], f"{n}/x_b")
        ids = g.op("Expand", [ids, g.shape_value([a if (b == 1 and i != ax) else 1 for i, (a, b) in enumerate(zip(xd, idd))],
                                                 f"{n}/ids_to", batch=1)], f"{n}/ids_b")
    return [g.op("GatherElements", [x, ids], n, axis=ax)]


def one_hot(g, layer, ins, node):
    """Negative ids give an all-zero row (bigcore, Keras on torch); ONNX counts them from the end,
    so they are sent out of range first."""
    n, depth = layer.name, int(layer.attrs["num_classes"])
    ids = _ids(g, ins[0], f"{n}/ids")
    ids = g.op("Where", [g.op("Less", [ids, g.int64(0, f"{n}/zero")], f"{n}/neg"), g.int64(depth, f"{n}/out"), ids],
               f"{n}/ids_pos")
    values = g.const(np.array([0.0, 1.0], np.float32), f"{n}/off_on")
    return [g.op("OneHot", [ids, g.int64(depth, f"{n}/depth"), values], n, axis=int(layer.attrs.get("axis", -1)))]


def tile(g, layer, ins, node):
    n, reps, x = layer.name, list(layer.attrs["repeats"] if isinstance(layer.attrs["repeats"], (list, tuple))
                                  else [layer.attrs["repeats"]]), ins[0]
    nd = _ndim(node)
    if len(reps) > nd:
        x = g.op("Unsqueeze", [x, g.int64(list(range(len(reps) - nd)), f"{n}/lead")], f"{n}/x")
    reps = [1] * (nd - len(reps)) + reps
    return [g.op("Tile", [x, g.int64(reps, f"{n}/repeats")], n)]


def repeat(g, layer, ins, node):
    """np.repeat as a Gather of the repeated indices (the axis length must be known)."""
    n, x, axis, r = layer.name, ins[0], layer.attrs.get("axis"), layer.attrs["repeats"]
    shape = node.inputs[0].full_dims
    if axis is None:
        x, axis = g.op("Reshape", [x, g.int64([-1], f"{n}/flat_shape")], f"{n}/flat"), 0
        length = dims.product(shape)
    else:
        axis = int(axis) % len(shape)
        length = shape[axis]
    if dims.is_dim(length):
        raise NotImplementedError(f"ONNX export of op {n!r} (repeat): repeating along a run-time length has no rule")
    idx = np.repeat(np.arange(length, dtype=np.int64), r)
    return [g.op("Gather", [x, g.int64(idx, f"{n}/idx")], n, axis=axis)]


def pad(g, layer, ins, node):
    n, a = layer.name, layer.attrs
    if a.get("mode", "constant") != "constant":
        raise NotImplementedError(f"ONNX export of op {n!r} (pad): mode {a.get('mode')!r} has no rule")
    nd = _ndim(node)
    width = np.broadcast_to(np.asarray(a["pad_width"], np.int64).reshape(-1, 2), (nd, 2))
    pads = list(width[:, 0]) + list(width[:, 1])
    return [g.op("Pad", [ins[0], g.int64(pads, f"{n}/pads"), _f(g, a.get("constant_values", 0), f"{n}/value")], n,
                 mode="constant")]


# -- constants ----------------------------------------------------------------------------------

def constant(g, layer, ins, node):
    k, a, n = layer.kind, layer.attrs, layer.name
    shape = node.outputs[0].full_dims
    if any(dims.is_dim(d) for d in shape):  # sized by run-time lengths: computed from the inputs' shapes
        return [_run_time_constant(g, k, a, n, shape)]
    if k == "constant":
        v = np.asarray(a["value"], np.float32).reshape(a["shape"])
    elif k in ("zeros", "ones"):
        v = np.full(a["shape"], 0.0 if k == "zeros" else 1.0, np.float32)
    elif k == "full":
        v = np.full(a["shape"], a["fill_value"], np.float32)
    elif k == "eye":
        v = np.eye(a["N"], a.get("M") or a["N"], a.get("k", 0), dtype=np.float32)
    else:  # arange
        length = shape[0]
        start, step = a.get("start", 0), a.get("step", 1)
        v = (np.float32(start) + np.arange(length, dtype=np.float32) * np.float32(step)).astype(np.float32)
    return [g.const(v, n)]


def _run_time_constant(g, k, a, n, shape):
    """arange up to a run-time length (Range), or zeros / ones / full of a run-time shape (Expand)."""
    if k == "arange":
        start, step = _f(g, a.get("start", 0), f"{n}/start"), _f(g, a.get("step", 1), f"{n}/step")
        count = _to_float(g, g.length(shape[0], f"{n}/count"), f"{n}/count_f")
        stop = g.op("Add", [start, g.op("Mul", [count, step], f"{n}/span")], f"{n}/stop1")
        stop = g.op("Squeeze", [stop, g.int64([0], f"{n}/axis")], f"{n}/stop")
        return g.op("Range", [start, stop, step], n)
    if k not in ("zeros", "ones", "full"):
        raise NotImplementedError(f"ONNX export of op {n!r} ({k}): a run-time length has no rule")
    v = {"zeros": 0.0, "ones": 1.0}.get(k, a.get("fill_value"))
    return g.op("Expand", [_f(g, v, f"{n}/value"), g.shape_value(shape, f"{n}/shape", batch=1)], n)


def like(g, layer, ins, node):
    n, k = layer.name, layer.kind
    v = {"zeros_like": 0.0, "ones_like": 1.0}.get(k, layer.attrs.get("fill_value"))
    return [g.op("Expand", [_f(g, v, f"{n}/value"), g.op("Shape", [ins[0]], f"{n}/shape")], n)]


def weight(g, layer, ins, node):
    return [g.const(np.asarray(layer.weight.numpy(), np.float32), layer.weight.path.replace("/", "_"))]


RULES = {**{k: unary for k in list(_UNARY) + ["identity", "stop_gradient", "dropout", "square", "rsqrt", "expm1",
                                               "log1p", "relu6", "clip", "gelu", "silu", "swish", "log_sigmoid",
                                               "selu", "elu", "leaky_relu", "hard_sigmoid", "logical_not", "cast"]},
         **{k: binary for k in list(_BINARY) + list(_COMPARE) + list(_LOGICAL) + ["floor_divide", "mod",
                                                                                  "not_equal"]},
         **{k: reduction for k in ("sum", "mean", "max", "min", "prod", "var", "std", "logsumexp", "any", "all",
                                   "norm", "argmax", "argmin")},
         "where": where, "softmax": softmax, "log_softmax": softmax, "cumsum": cumsum, "matmul": matmul,
         "dot_product_attention": dot_product_attention,
         "transpose": transpose, "reshape": reshape, "expand_dims": expand_dims, "squeeze": squeeze,
         "broadcast_to": broadcast_to, "concatenate": concatenate, "stack": stack, "split": split, "slice": slice_,
         "flip": flip, "take": take, "take_along_axis": take_along_axis, "one_hot": one_hot, "tile": tile,
         "repeat": repeat, "pad": pad, "zeros_like": like, "ones_like": like, "full_like": like, "weight": weight,
         **{k: constant for k in ("constant", "zeros", "ones", "full", "eye", "arange")}}


def rule(layer):
    """The rule for a recorded primitive, or NotImplementedError naming it."""
    fn = RULES.get(layer.kind)
    if fn is None:
        raise NotImplementedError(f"ONNX export does not support the primitive {layer.kind!r} (op {layer.name!r}) "
                                  f"yet. Primitives with a rule: {', '.join(sorted(RULES))}.")
    return fn


def is_op(layer):
    """Whether `layer` is a recorded bigcore.ops primitive (an OpLayer)."""
    return getattr(layer, "config_module", None) == "bigcore.ops" and hasattr(layer, "kind")


__all__ = ["BATCH", "RULES", "is_op", "rule"]
