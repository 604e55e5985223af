"""Shape rules of the primitives on symbolic shapes: what a recorded op's outputs look like.

A shape here is a tuple of lengths, each an int or a Dim (layers/dims.py), the batch axis
`BATCH` first for batched tensors. The rules are NumPy's (and the native primitives', which
check the same at build time); a rule that cannot hold raises ValueError naming the op.
`infer(kind, attrs, shapes)` gives the output shapes of primitive `kind`.
"""

import math

from bigcore.layers import dims
from bigcore.layers.dims import BATCH

UNARY = {"negative", "abs", "square", "sqrt", "rsqrt", "exp", "expm1", "log", "log1p", "sign", "sin", "cos",
         "reciprocal", "floor", "ceil", "round", "relu", "relu6", "gelu", "silu", "swish", "sigmoid", "tanh",
         "softplus", "softsign", "elu", "selu", "leaky_relu", "hard_sigmoid", "hard_silu", "hard_swish",
         "log_sigmoid", "erf", "clip", "cast", "logical_not", "stop_gradient", "identity", "dropout",
         "softmax", "log_softmax", "flip", "zeros_like", "ones_like", "full_like"}
BINARY = {"add", "subtract", "multiply", "divide", "power", "maximum", "minimum", "floor_divide", "mod", "equal",
          "not_equal", "greater", "greater_equal", "less", "less_equal", "logical_and", "logical_or",
          "logical_xor"}
REDUCE = {"sum", "mean", "max", "min", "prod", "var", "std", "logsumexp", "norm", "any", "all", "argmax", "argmin"}
# kinds whose result has no gradient and is a bool or an index
BOOL_RESULT = {"equal", "not_equal", "greater", "greater_equal", "less", "less_equal", "logical_and",
               "logical_or", "logical_xor", "logical_not", "any", "all"}
INDEX_RESULT = {"argmax", "argmin"}


def show(shape):
    """A shape as Keras prints it (None for a run-time length, the batch axis included)."""
    return "(" + ", ".join("None" if dims.is_dim(d) else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def axis_of(axis, nd, kind):
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise TypeError(f"{kind}: axis must be an int. Received: axis={axis!r}")
    if not -nd <= axis < nd:
        raise ValueError(f"{kind}: axis {axis} is out of bounds for a tensor of rank {nd}")
    return axis % nd


def axes_of(axis, nd, kind):
    """None -> every axis; an int or a list of ints -> the sorted normalized axes (no repeats)."""
    if axis is None:
        return list(range(nd))
    axes = [axis_of(a, nd, kind) for a in (axis if isinstance(axis, (list, tuple)) else [axis])]
    if len(set(axes)) != len(axes):
        raise ValueError(f"{kind}: repeated axis in {axis!r}")
    return sorted(axes)


def broadcast(a, b, kind="broadcast"):
    """NumPy broadcasting of two shapes, right-aligned."""
    n = max(len(a), len(b))
    a = (1,) * (n - len(a)) + tuple(a)
    b = (1,) * (n - len(b)) + tuple(b)
    try:
        return tuple(dims.broadcast(x, y) for x, y in zip(a, b))
    except ValueError as e:
        raise ValueError(f"{kind}: shapes {show(a)} and {show(b)} do not broadcast: {e}") from None


def check_batch_first(shape, kind):
    if any(d is BATCH for d in shape[1:]):
        raise ValueError(f"{kind}: the result {show(shape)} would move the batch axis away from axis 0; bigcore keeps "
                         "the batch axis first in a model (transpose, stack, expand_dims and reshape may not move "
                         "it)")
    return shape


def _reduce(kind, attrs, x):
    nd = len(x)
    axis = attrs.get("axis")
    if kind in ("argmax", "argmin"):
        if axis is None:
            if BATCH in x:
                raise ValueError(f"{kind}: axis=None would give a flat index across the batch; give an axis")
            return ((1,) * nd if attrs.get("keepdims") else ())
        axes = [axis_of(axis, nd, kind)]
    else:
        axes = axes_of(axis, nd, kind)
    if kind == "norm" and attrs.get("ord") is not None and len(axes) == 2 and attrs.get("ord") != "fro":
        raise ValueError(f"norm: ord={attrs.get('ord')!r} over two axes (a matrix norm) is not supported; "
                         "use ord=None or 'fro'")
    if attrs.get("keepdims"):
        return tuple(1 if i in axes else d for i, d in enumerate(x))
    return tuple(d for i, d in enumerate(x) if i not in axes)


def _matmul(a, b):
    if not a or not b:
        raise ValueError("matmul: both operands need at least one axis")
    a1, b1 = len(a) == 1, len(b) == 1
    aa = (1,) + tuple(a) if a1 else tuple(a)
    bb = tuple(b) + (1,) if b1 else tuple(b)
    if aa[-1] != bb[-2]:
        raise ValueError(f"matmul: inner lengths differ: {show(a)} @ {show(b)} (the last axis of the first "
                         "operand must equal the second-to-last of the second)")
    batch = broadcast(aa[:-2], bb[:-2], "matmul")
    out = batch + (aa[-2], bb[-1])
    if a1:
        out = out[:-2] + out[-1:]
    if b1:
        out = out[:-1]
    return out


def _reshape(x, target):
    """The result of reshaping x to target (ints, -1 at most once, None: a length to infer, the
    batch axis when it comes first)."""
    target = list(target)
    rest_in = list(x)
    out = []
    batch_note = ""
    if x and x[0] is BATCH and target and target[0] is BATCH:  # ops.shape(x)[0] inside a traced call()
        target[0] = None
    asked = tuple(target)  # (for the messages, as written)
    if x and x[0] is BATCH:
        if not target or target[0] not in (-1, None):
            raise ValueError(f"reshape: {show(x)} -> {tuple(target)}: the batch axis must stay first; write -1 "
                             "or None for it")
        out.append(BATCH)
        target, rest_in = target[1:], rest_in[1:]
        # (-1, 8) on (None, 10, 8) reads as merging the batch into the rows; say what bigcore did with it
        batch_note = (f" (the leading {asked[0]} is the batch axis, kept whole: the other lengths must hold a "
                      f"sample's values, {show(tuple(rest_in))}; the batch cannot merge with another axis)")
    total = dims.product(rest_in)
    res = []
    unknown = [i for i, t in enumerate(target) if t is None or t == -1]
    for i, t in enumerate(target):
        if t is BATCH:
            raise ValueError(f"reshape: {show(x)} -> {show(tuple(target))}: the batch axis must stay first")
        if t is not None and t != -1 and not dims.is_dim(t) and (isinstance(t, bool) or not isinstance(t, int)
                                                                  or t < 1):
            raise ValueError(f"reshape: lengths must be positive ints, -1 or None. Received: {tuple(target)}")
        res.append(t)
    if len(unknown) > 1:  # None at an axis whose length is a run-time one: that length (ops.shape's None)
        for i in unknown:
            if target[i] is None and i < len(rest_in) and dims.is_dim(rest_in[i]):
                res[i] = rest_in[i]
        unknown = [i for i in unknown if res[i] is None or res[i] == -1]
    if len(unknown) > 1:
        raise ValueError(f"reshape: {show(x)} -> {tuple(target)}: only one length may be inferred")
    if unknown:
        known = dims.product([r for i, r in enumerate(res) if i != unknown[0]])
        if dims.is_dim(known):
            q = total if known == total else None
            res[unknown[0]] = 1 if q is not None else None
            if q is None:
                raise ValueError(f"reshape: {show(x)} -> {tuple(target)}: cannot infer a length from run-time ones")
        else:
            q = dims.exact_div(total, known)
            if q is None:
                raise ValueError(f"reshape: cannot reshape {show(x)} to {asked}{batch_note}")
            res[unknown[0]] = q
    if dims.product(res) != total:
        raise ValueError(f"reshape: cannot reshape {show(x)} to {asked}{batch_note}" + (
            "" if not any(map(dims.is_dim, list(rest_in) + res)) else
            " (with run-time lengths the sizes must match exactly: keep those lengths as they are, or use -1)"))
    return tuple(out + res)


def _broadcast_to(x, target):
    target = list(target)
    if x and x[0] is BATCH and len(target) == len(x) and target[0] is BATCH:
        target[0] = None
    if x and x[0] is BATCH and len(target) >= len(x) and len(target) - len(x) == 0:
        if target[0] not in (None, -1):
            raise ValueError(f"broadcast_to: the batch axis must stay first; write None for it in {tuple(target)}")
    full = []
    off = len(target) - len(x)
    if off < 0:
        raise ValueError(f"broadcast_to: cannot broadcast {show(x)} to {tuple(target)}")
    for i, t in enumerate(target):
        xd = x[i - off] if i >= off else 1
        if t is None or t == -1:
            if i < off:
                raise ValueError(f"broadcast_to: a new leading axis needs a length. Received: {tuple(target)}")
            full.append(xd)
        else:
            full.append(t)
    for i in range(len(x)):
        xd, t = x[i], full[i + off]
        if xd != 1 and xd != t:
            raise ValueError(f"broadcast_to: cannot broadcast {show(x)} to {show(tuple(full))}")
    return tuple(full)


def _concat(kind, xs, axis):
    nd = len(xs[0])
    if any(len(s) != nd for s in xs):
        raise ValueError(f"{kind}: every input needs rank {nd}. Received: {', '.join(show(s) for s in xs)}")
    ax = axis_of(axis, nd, kind)
    total = 0
    for s in xs:
        for i in range(nd):
            if i != ax and s[i] != xs[0][i]:
                raise ValueError(f"{kind}: shapes must match except along axis {axis}. Received: "
                                 f"{', '.join(show(t) for t in xs)}")
        total = dims.add(total, s[ax])
    if ax == 0 and xs[0][0] is BATCH:
        raise ValueError(f"{kind}: concatenating along the batch axis is not supported in a model")
    return xs[0][:ax] + (total,) + xs[0][ax + 1:]


def _split(x, ios, axis):
    ax = axis_of(axis, len(x), "split")
    n = x[ax]
    if n is BATCH:
        raise ValueError("split: splitting the batch axis is not supported in a model")
    if isinstance(ios, int) and not isinstance(ios, bool):
        each = dims.exact_div(n, ios) if ios > 0 else None
        if each is None:
            raise ValueError(f"split: an axis of length {show((n,))[1:-1]} does not split into {ios} equal pieces")
        return [x[:ax] + (each,) + x[ax + 1:]] * ios
    cuts = [0] + list(ios) + [None]
    return [x[:ax] + (dims.slice_len(n, a, b, 1),) + x[ax + 1:] for a, b in zip(cuts[:-1], cuts[1:])]


def _slice(x, start, stop, step):
    out = []
    for i, d in enumerate(x):
        a = start[i] if start and i < len(start) else None
        b = stop[i] if stop and i < len(stop) else None
        s = step[i] if step and i < len(step) else None
        if d is BATCH:
            if (a, b, s) not in ((None, None, None), (None, None, 1), (0, None, None), (0, None, 1)):
                raise ValueError("slicing the batch axis is not supported in a model (index it with `:`)")
            out.append(d)
            continue
        if s == 0:
            raise ValueError("slice step cannot be zero")
        n = dims.slice_len(d, a, b, s)
        if n == 0:
            raise ValueError(f"the slice {a}:{b}:{s} of an axis of length {d} is empty")
        out.append(n)
    return tuple(out)


def _take(x, ids, axis):
    if axis is None:
        if BATCH in x:
            raise ValueError("take: axis=None flattens the batch axis; give an axis")
        return tuple(ids)
    ax = axis_of(axis, len(x), "take")
    if x[ax] is BATCH:
        raise ValueError("take: gathering along the batch axis is not supported in a model")
    return x[:ax] + tuple(ids) + x[ax + 1:]


def _take_along(x, ids, axis):
    if len(ids) != len(x):
        raise ValueError(f"take_along_axis: indices need the rank of x ({len(x)}). Received: {show(ids)}")
    ax = axis_of(axis, len(x), "take_along_axis")
    out = []
    for i, (a, b) in enumerate(zip(x, ids)):
        out.append(b if i == ax else dims.broadcast(a, b, "take_along_axis"))
    return tuple(out)


def _tile(x, reps):
    reps = list(reps)
    n = max(len(x), len(reps))
    xx = (1,) * (n - len(x)) + tuple(x)
    rr = [1] * (n - len(reps)) + reps
    return tuple(dims.mul(a, r) for a, r in zip(xx, rr))


def _pad(x, width):
    w = width
    if len(w) == 2 and all(isinstance(v, int) for v in w):
        w = [w] * len(x)
    if len(w) == 1:
        w = list(w) * len(x)
    if len(w) != len(x):
        raise ValueError(f"pad: pad_width needs one (before, after) pair per axis. Received: {width!r}")
    out = []
    for d, (a, b) in zip(x, w):
        if d is BATCH and (a or b):
            raise ValueError("pad: the batch axis cannot be padded in a model")
        out.append(dims.add(d, a + b) if a or b else d)
    return tuple(out)


def _repeat(x, repeats, axis):
    if axis is None:
        if BATCH in x:
            raise ValueError("repeat: axis=None flattens the batch axis; give an axis")
        n = dims.product(x)
        return (dims.mul(n, repeats) if isinstance(repeats, int) else sum(repeats),)
    ax = axis_of(axis, len(x), "repeat")
    if x[ax] is BATCH:
        raise ValueError("repeat: repeating along the batch axis is not supported in a model")
    n = dims.mul(x[ax], repeats) if isinstance(repeats, int) else sum(repeats)
    return x[:ax] + (n,) + x[ax + 1:]


def infer(kind, attrs, shapes):
    """The output shapes (a list) of primitive `kind` with these attrs on inputs of these shapes."""
    s = shapes
    if kind in UNARY or kind == "where":
        out = s[0] if kind != "where" else broadcast(broadcast(s[0], s[1], kind), s[2], kind)
        return [out]
    if kind in BINARY:
        return [broadcast(s[0], s[1], kind)]
    if kind in REDUCE:
        return [_reduce(kind, attrs, s[0])]
    if kind in ("cumsum", "cumprod"):
        if attrs.get("axis") is None:
            if BATCH in s[0]:
                raise ValueError(f"{kind}: axis=None flattens the batch axis; give an axis")
            return [(dims.product(s[0]),)]
        axis_of(attrs["axis"], len(s[0]), kind)
        return [s[0]]
    if kind == "matmul":
        return [check_batch_first(_matmul(s[0], s[1]), kind)]
    if kind == "dot_product_attention":  # q (B, T, N, H), k, v (B, S, K, Hv) [, mask] -> (B, T, N, Hv)
        if any(len(x) != 4 for x in s[:3]):
            raise ValueError("dot_product_attention: query, key and value must be 4-D. Received: "
                             + ", ".join(show(x) for x in s[:3]))
        return [tuple(s[0][:3]) + (s[2][3],)]
    if kind == "loss_rows":  # y_true, y_pred (..., C) -> (...): one loss per row
        if not s[1]:
            raise ValueError("loss_rows: y_pred needs at least one axis")
        return [tuple(s[1][:-1])]
    if kind == "ctc_loss":  # target (B, S), output (B, T, C), target_length (B,), output_length (B,) -> (B,)
        if [len(x) for x in s] != [2, 3, 1, 1]:
            raise ValueError("ctc_loss: target must be (batch, max_length), output (batch, frames, classes), "
                             "target_length and output_length (batch,). Received: " + ", ".join(show(x) for x in s))
        for name, x in (("target", s[0]), ("target_length", s[2]), ("output_length", s[3])):
            if x[0] != s[1][0] and not any(d is None for d in (x[0], s[1][0])):
                raise ValueError(f"ctc_loss: arguments `{name}` and `output` must have the same first dimension. "
                                 f"Received shapes: `{show(x)}` and `{show(s[1])}`.")
        return [(s[1][0],)]
    if kind == "transpose":
        axes = attrs.get("axes")
        axes = list(range(len(s[0])))[::-1] if axes is None else [axis_of(a, len(s[0]), kind) for a in axes]
        if sorted(axes) != list(range(len(s[0]))):
            raise ValueError(f"transpose: axes {attrs.get('axes')!r} are not a permutation of {len(s[0])} axes")
        return [check_batch_first(tuple(s[0][a] for a in axes), kind)]
    if kind == "reshape":  # _shape: the target with its run-time lengths (Dims), "shape" shows them as None
        return [_reshape(s[0], attrs.get("_shape", attrs["shape"]))]
    if kind == "expand_dims":
        axes = attrs["axis"] if isinstance(attrs["axis"], (list, tuple)) else [attrs["axis"]]
        nd = len(s[0]) + len(axes)
        axes = sorted(axis_of(a, nd, kind) for a in axes)
        out, it = [], iter(s[0])
        for i in range(nd):
            out.append(1 if i in axes else next(it))
        return [check_batch_first(tuple(out), kind)]
    if kind == "squeeze":
        axis = attrs.get("axis")
        if axis is None:
            return [tuple(d for d in s[0] if d != 1)]
        axes = axes_of(axis, len(s[0]), kind)
        for a in axes:
            if s[0][a] != 1:
                raise ValueError(f"squeeze: axis {a} of {show(s[0])} does not have length 1")
        return [tuple(d for i, d in enumerate(s[0]) if i not in axes)]
    if kind == "broadcast_to":
        return [check_batch_first(_broadcast_to(s[0], attrs.get("_shape", attrs["shape"])), kind)]
    if kind == "concatenate":
        return [_concat(kind, s, attrs.get("axis", 0))]
    if kind == "stack":
        if any(x != s[0] for x in s):
            raise ValueError(f"stack: every input needs one shape. Received: {', '.join(show(x) for x in s)}")
        nd = len(s[0]) + 1
        ax = axis_of(attrs.get("axis", 0), nd, kind)
        return [check_batch_first(s[0][:ax] + (len(s),) + s[0][ax:], kind)]
    if kind == "split":
        return _split(s[0], attrs["indices_or_sections"], attrs.get("axis", 0))
    if kind == "slice":
        return [_slice(s[0], attrs.get("start"), attrs.get("stop"), attrs.get("step"))]
    if kind == "take":
        return [check_batch_first(_take(s[0], s[1], attrs.get("axis")), kind)]
    if kind == "take_along_axis":
        return [_take_along(s[0], s[1], attrs["axis"])]
    if kind == "one_hot":
        nd = len(s[0]) + 1
        ax = axis_of(attrs.get("axis", -1), nd, kind)
        return [check_batch_first(s[0][:ax] + (attrs["num_classes"],) + s[0][ax:], kind)]
    if kind == "repeat":
        return [_repeat(s[0], attrs["repeats"], attrs.get("axis"))]
    if kind == "tile":
        return [check_batch_first(_tile(s[0], attrs["repeats"]), kind)]
    if kind == "pad":
        return [_pad(s[0], attrs["pad_width"])]
    if kind in ("zeros", "ones", "full", "constant", "random_normal", "random_uniform"):
        return [check_batch_first(tuple(attrs.get("_shape", attrs.get("shape"))), kind)]
    if kind == "eye":
        return [(attrs["N"], attrs.get("M") or attrs["N"])]
    if kind == "arange":
        if "_length" in attrs:  # stop (or start) a run-time length
            return [(attrs["_length"],)]
        return [(len(range(*_arange_ints(attrs))) if _all_int(attrs) else _arange_len(attrs),)]
    raise ValueError(f"bigcore.ops: no shape rule for primitive {kind!r}")


def _all_int(attrs):
    return all(isinstance(attrs.get(k, 0), int) for k in ("start", "stop", "step"))


def _arange_ints(attrs):
    return attrs.get("start", 0), attrs["stop"], attrs.get("step", 1)


def _arange_len(attrs):
    start, stop, step = attrs.get("start", 0), attrs["stop"], attrs.get("step", 1)
    return max(0, math.ceil((stop - start) / step))
