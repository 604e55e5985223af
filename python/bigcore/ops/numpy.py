"""keras.ops's NumPy-style functions: elementwise maths, reductions, layout, creation (more
elementwise maths in elementwise_math.py, sorting and order statistics in sorting.py).

Each runs at once on arrays (returning a numpy array) or records a node on symbolic tensors
(node.py); the semantics are Keras 3's (keras/src/ops/numpy.py), computed in float32.
"""

import builtins

import numpy as np

from bigcore.layers.base import KerasTensor, Weight
from bigcore.layers.dims import Dim, Lengths
from bigcore.ops import einsum as einsum_module
from bigcore.ops.node import OpLayer, apply, is_symbolic, length_value, to_symbolic


def _has_dim(values):
    """Whether a size argument holds a run-time length (a Dim from ops.shape inside a traced call())."""
    return builtins.any(isinstance(v, Dim) for v in values)


def as_lengths(x):
    """x as a vector of lengths when it holds a run-time one (a Dim, Lengths, or a list or int array
    mixing them with ints), else None."""
    if isinstance(x, Dim):
        return Lengths((x,))
    if isinstance(x, Lengths):
        return x
    if isinstance(x, (list, tuple)) and _has_dim(x):
        if not builtins.all(isinstance(v, (Dim, int, np.integer)) and not isinstance(v, bool) for v in x):
            raise ValueError(f"a vector of lengths holds ints and run-time lengths only. Received: {x!r}")
        return Lengths(v if isinstance(v, Dim) else int(v) for v in x)
    return None


def _length_vector(xs):
    """The concatenation of xs as lengths when one of them holds a run-time length, else None."""
    if not builtins.any(isinstance(x, (Dim, Lengths)) for x in xs):
        return None
    out = []
    for x in xs:
        v = as_lengths(x)
        if v is None:
            a = np.asarray(x)
            if a.ndim != 1 or a.dtype.kind not in "iu":
                raise ValueError(f"a vector of lengths joins 1-D int vectors only. Received: {x!r}")
            v = [int(e) for e in a]
        out.extend(v)
    return Lengths(out)


def _record(kind, attrs, args=()):
    """A node sized by run-time lengths: recorded even when no argument is symbolic."""
    return OpLayer(kind, attrs).record([to_symbolic(a) for a in args])[0]


def _with_dims(target):
    """A target shape holding Dims: what the native attribute shows (None there), and the full one."""
    full = [s if isinstance(s, Dim) or s is None else int(s) for s in target]
    return [None if isinstance(s, Dim) else s for s in full], full

# -- elementwise, binary --


def _binary(kind):
    def op(x1, x2):
        return apply(kind, [x1, x2])
    op.__name__ = kind
    op.__doc__ = f"Element-wise `{kind}` with NumPy broadcasting (keras.ops.{kind})."
    return op


add = _binary("add")
subtract = _binary("subtract")
multiply = _binary("multiply")
divide = _binary("divide")
true_divide = divide
power = _binary("power")
maximum = _binary("maximum")
minimum = _binary("minimum")
floor_divide = _binary("floor_divide")
mod = _binary("mod")
equal = _binary("equal")
not_equal = _binary("not_equal")
greater = _binary("greater")
greater_equal = _binary("greater_equal")
less = _binary("less")
less_equal = _binary("less_equal")
logical_and = _binary("logical_and")
logical_or = _binary("logical_or")
logical_xor = _binary("logical_xor")


def divide_no_nan(x1, x2):
    """x1 / x2, 0 where x2 is 0."""
    zero = equal(x2, 0.0)
    return where(zero, 0.0, divide(x1, where(zero, 1.0, x2)))


# -- elementwise, unary --


def _unary(kind):
    def op(x):
        return apply(kind, [x])
    op.__name__ = kind
    op.__doc__ = f"Element-wise `{kind}` (keras.ops.{kind})."
    return op


negative = _unary("negative")
absolute = _unary("abs")
abs = absolute  # noqa: A001  (Keras's name)
square = _unary("square")
sqrt = _unary("sqrt")
exp = _unary("exp")
expm1 = _unary("expm1")
log = _unary("log")
log1p = _unary("log1p")
sign = _unary("sign")
sin = _unary("sin")
cos = _unary("cos")
reciprocal = _unary("reciprocal")
floor = _unary("floor")
ceil = _unary("ceil")
logical_not = _unary("logical_not")
tanh = _unary("tanh")


def _positive(x):
    return x if isinstance(x, KerasTensor) else apply("identity", [x])


def copy(x):
    return apply("identity", [x])


def log2(x):
    return multiply(log(x), 1.0 / np.log(2.0))


def log10(x):
    return multiply(log(x), 1.0 / np.log(10.0))


def round(x, decimals=0):  # noqa: A001
    """Half to even, as NumPy; `decimals` places."""
    if decimals == 0:
        return apply("round", [x])
    k = 10.0 ** decimals
    return divide(apply("round", [multiply(x, k)]), k)


def clip(x, x_min, x_max):
    if isinstance(x_min, (KerasTensor, Weight, np.ndarray)) or isinstance(x_max, (KerasTensor, Weight, np.ndarray)):
        return minimum(maximum(x, x_min), x_max)
    return apply("clip", [x], {"x_min": float(x_min), "x_max": float(x_max)})


def where(condition, x1=None, x2=None):
    """x1 where condition is true, else x2 (both broadcast); gradients flow to x1 and x2."""
    if x1 is None and x2 is None:
        if is_symbolic([condition]):
            raise ValueError("ops.where(condition) without x1 and x2 gives indices whose number depends on the values: "
                             "it cannot be traced into a model")
        return np.nonzero(np.asarray(condition))
    if x1 is None or x2 is None:
        raise ValueError("ops.where: give both x1 and x2, or neither")
    return apply("where", [condition, x1, x2])


# -- reductions --


def _axis(axis):
    if axis is None or isinstance(axis, int):
        return axis
    return [int(a) for a in axis]


def _reduce(kind):
    def op(x, axis=None, keepdims=False):
        return apply(kind, [x], {"axis": _axis(axis), "keepdims": bool(keepdims)})
    op.__name__ = kind
    op.__doc__ = f"`{kind}` over `axis` (None: all), keepdims as NumPy (keras.ops.{kind})."
    return op


sum = _reduce("sum")  # noqa: A001
mean = _reduce("mean")
var = _reduce("var")
std = _reduce("std")
any = _reduce("any")  # noqa: A001
all = _reduce("all")  # noqa: A001


def max(x, axis=None, keepdims=False, initial=None):  # noqa: A001
    out = apply("max", [x], {"axis": _axis(axis), "keepdims": bool(keepdims)})
    return out if initial is None else maximum(out, initial)


def min(x, axis=None, keepdims=False, initial=None):  # noqa: A001
    out = apply("min", [x], {"axis": _axis(axis), "keepdims": bool(keepdims)})
    return out if initial is None else minimum(out, initial)


amax, amin = max, min


def prod(x, axis=None, keepdims=False, dtype=None):
    out = apply("prod", [x], {"axis": _axis(axis), "keepdims": bool(keepdims)})
    return out if dtype is None else cast(out, dtype)


def argmax(x, axis=None, keepdims=False):
    """Index of the first maximum (int32; no gradient)."""
    if axis is not None and not isinstance(axis, int):
        raise ValueError(f"argmax: axis must be None or an int. Received: axis={axis!r}")
    return apply("argmax", [x], {"axis": axis, "keepdims": bool(keepdims)})


def argmin(x, axis=None, keepdims=False):
    if axis is not None and not isinstance(axis, int):
        raise ValueError(f"argmin: axis must be None or an int. Received: axis={axis!r}")
    return apply("argmin", [x], {"axis": axis, "keepdims": bool(keepdims)})


def cumsum(x, axis=None, dtype=None):
    out = apply("cumsum", [x], {"axis": axis})
    return out if dtype is None else cast(out, dtype)


def cumprod(x, axis=None, dtype=None):
    out = apply("cumprod", [x], {"axis": axis})
    return out if dtype is None else cast(out, dtype)


def average(x, axis=None, weights=None):
    if weights is None:
        return mean(x, axis=axis)
    if axis is not None and np.ndim(weights) == 1 and _ndim(x) > 1:
        shape = [1] * _ndim(x)
        shape[axis] = -1
        weights = reshape(weights, shape)
    return divide(sum(multiply(x, weights), axis=axis), sum(multiply(ones_like(x), weights), axis=axis))


# -- casting --


def cast(x, dtype):
    from_ = str(np.dtype(dtype)) if not isinstance(dtype, str) else dtype
    if isinstance(x, Dim) and not from_.startswith(("int", "uint", "bool")):
        # a run-time length as a number (Keras's `ops.cast(ops.shape(x)[0], "float32")`, the batch size a
        # loss divides by): a scalar tensor the program computes (node.length_value)
        return cast(length_value(x), from_)
    if isinstance(x, (Dim, Lengths)):
        if not from_.startswith(("int", "uint")):
            raise ValueError(f"cast: a run-time length ({x!r}) sizes ops but has no value to cast to {from_}")
        return x
    if from_ in ("float16", "bfloat16"):
        raise ValueError(f"cast: bigcore computes in float32 and does not hold {from_}")
    return apply("cast", [x], {"dtype": from_})


# -- matrix products --


def matmul(x1, x2):
    """Matrix product with NumPy's rules (batched, broadcast batch axes, 1-D operands)."""
    return apply("matmul", [x1, x2])


def einsum(subscripts, *operands, **kwargs):
    """Einstein summation, lowered to transpose + reshape + batched matmul (+ sum) (einsum.py)."""
    if kwargs:
        raise TypeError(f"einsum: unexpected keyword arguments {sorted(kwargs)}")
    return einsum_module.einsum(subscripts, *operands)


def tensordot(x1, x2, axes=2):
    return einsum_module.tensordot(x1, x2, axes)


def dot(x1, x2):
    """NumPy's dot: products for scalars, matmul for 1-D/2-D, a sum over x1's last and x2's
    second-to-last axis otherwise."""
    a, b = _ndim(x1), _ndim(x2)
    if a == 0 or b == 0:
        return multiply(x1, x2)
    if b == 1 or (a <= 2 and b <= 2):
        return matmul(x1, x2)
    return einsum_module.tensordot(x1, x2, ([a - 1], [b - 2]))


def inner(x1, x2):
    a, b = _ndim(x1), _ndim(x2)
    if a == 0 or b == 0:
        return multiply(x1, x2)
    return einsum_module.tensordot(x1, x2, ([a - 1], [b - 1]))


def outer(x1, x2):
    return multiply(reshape(x1, (-1, 1)), reshape(x2, (1, -1)))


def vdot(x1, x2):
    return sum(multiply(reshape(x1, (-1,)), reshape(x2, (-1,))))


# -- layout --


def _ndim(x):
    if isinstance(x, (KerasTensor, Weight)):
        return len(x.shape)
    return np.ndim(x)


def transpose(x, axes=None):
    return apply("transpose", [x], {"axes": None if axes is None else [int(a) for a in axes]})


def moveaxis(x, source, destination):
    n = _ndim(x)
    src = [s % n for s in ([source] if isinstance(source, int) else source)]
    dst = [d % n for d in ([destination] if isinstance(destination, int) else destination)]
    order = [i for i in range(n) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return transpose(x, order)


def swapaxes(x, axis1, axis2):
    n = _ndim(x)
    order = list(range(n))
    order[axis1 % n], order[axis2 % n] = order[axis2 % n], order[axis1 % n]
    return transpose(x, order)


def reshape(x, newshape):
    """newshape: ints, -1 once, None for the batch axis or for a run-time length kept as it is."""
    if isinstance(newshape, (int, Dim)):
        newshape = (newshape,)
    if _has_dim(newshape):
        shown, full = _with_dims(newshape)
        return _record("reshape", {"shape": shown, "_shape": full}, [x])
    target = [None if s is None else int(s) for s in newshape]
    if not is_symbolic([x]):
        target = [-1 if s is None else s for s in target]
    return apply("reshape", [x], {"shape": target})


def ravel(x):
    return reshape(x, (-1,))


def expand_dims(x, axis):
    if isinstance(x, Dim) and axis in (0, -1):  # a run-time length as a 1-element vector of lengths
        return Lengths((x,))
    return apply("expand_dims", [x], {"axis": _axis(axis)})


def squeeze(x, axis=None):
    return apply("squeeze", [x], {"axis": _axis(axis)})


def broadcast_to(x, shape):
    if _has_dim(shape):
        shown, full = _with_dims(shape)
        return _record("broadcast_to", {"shape": shown, "_shape": full}, [x])
    target = [None if s is None else int(s) for s in shape]
    if not is_symbolic([x]):
        target = [-1 if s is None else s for s in target]
    return apply("broadcast_to", [x], {"shape": target})


def concatenate(xs, axis=0):
    lengths = _length_vector(xs) if axis in (0, -1) else None
    if lengths is not None:
        return lengths
    if axis is None:
        xs, axis = [reshape(x, (-1,)) for x in xs], 0
    return apply("concatenate", list(xs), {"axis": int(axis)})


def append(x1, x2, axis=None):
    if axis is None:
        return concatenate([reshape(x1, (-1,)), reshape(x2, (-1,))], 0)
    return concatenate([x1, x2], axis)


def stack(x, axis=0):
    if axis in (0, -1) and _has_dim(x):  # run-time lengths stacked into a vector of lengths
        return as_lengths(list(x))
    return apply("stack", list(x), {"axis": int(axis)})


def split(x, indices_or_sections, axis=0):
    ios = indices_or_sections
    ios = int(ios) if isinstance(ios, (int, np.integer)) else [int(i) for i in ios]
    return apply("split", [x], {"indices_or_sections": ios, "axis": int(axis)}, multi=True)


def unstack(x, num=None, axis=0):
    n = x.shape[axis] if num is None else num
    if n is None:
        raise ValueError("unstack: the axis has a run-time length; give num")
    return [squeeze(p, axis) for p in split(x, n, axis)]


def take(x, indices, axis=None):
    """x's entries at `indices` along `axis` (None: of the flattened x); negative indices count from
    the end; indices get no gradient."""
    return apply("take", [x, indices], {"axis": axis})


def take_along_axis(x, indices, axis=None):
    if axis is None:
        return apply("take_along_axis", [reshape(x, (-1,)), reshape(indices, (-1,))], {"axis": 0})
    return apply("take_along_axis", [x, indices], {"axis": int(axis)})


def repeat(x, repeats, axis=None):
    reps = int(repeats) if isinstance(repeats, (int, np.integer)) else [int(r) for r in repeats]
    return apply("repeat", [x], {"repeats": reps, "axis": axis})


def tile(x, repeats):
    if isinstance(repeats, (KerasTensor, np.ndarray)) and not isinstance(repeats, np.ndarray):
        raise ValueError("tile: repeats must be Python ints (or run-time lengths from ops.shape inside a call()); "
                         "a tensor of repeats is not supported")
    reps = [repeats] if isinstance(repeats, (int, np.integer, Dim)) else list(repeats)
    if _has_dim(reps):  # tiling a length-1 axis by a run-time length is broadcasting it
        shape = list(_full_shape(x))
        shape = [1] * (len(reps) - len(shape)) + shape
        reps = [1] * (len(shape) - len(reps)) + reps
        for d, r in zip(shape, reps):
            if isinstance(r, Dim) and d != 1:
                raise ValueError("tile: a run-time number of repeats is supported along axes of length 1 only. "
                                 f"Received: repeats {r!r} on an axis of length {d}")
        x = tile(x, [1 if isinstance(r, Dim) else r for r in reps])
        return broadcast_to(x, [r if isinstance(r, Dim) else None for r in reps])
    return apply("tile", [x], {"repeats": [int(r) for r in reps]})


def pad(x, pad_width, mode="constant", constant_values=None):
    if mode != "constant":
        raise ValueError(f"pad: only mode='constant' is supported. Received: mode={mode!r}")
    width = np.asarray(pad_width, dtype=np.int64)
    if width.ndim == 0:
        width = np.full((_ndim(x), 2), int(width))
    elif width.ndim == 1:
        width = np.tile(width.reshape(1, -1) if width.size == 2 else width.reshape(-1, 1), (_ndim(x), 1)) \
            if width.size in (1, 2) else width
    return apply("pad", [x], {"pad_width": width.reshape(-1, 2).tolist(),
                              "constant_values": float(constant_values or 0.0)})


def flip(x, axis=None):
    return apply("flip", [x], {"axis": _axis(axis)})


def roll(x, shift, axis=None):
    if axis is None:
        return reshape(roll(reshape(x, (-1,)), shift, 0), _shape(x))
    n = x.shape[axis] if isinstance(x, (KerasTensor, Weight)) else np.shape(x)[axis]
    if n is None:
        raise ValueError("roll: the axis has a run-time length")
    s = shift % n
    if s == 0:
        return copy(x)
    head, tail = split(x, [n - s], axis)
    return concatenate([tail, head], axis)


def tril(x, k=0):
    return _band(x, k, lower=True)


def triu(x, k=0):
    return _band(x, k, lower=False)


def _band(x, k, lower):
    rows, cols = _full_shape(x)[-2:]
    if isinstance(rows, Dim) or isinstance(cols, Dim):  # run-time lengths: the band by comparing positions
        if not isinstance(k, (int, np.integer)):
            raise ValueError(f"tril/triu: k must be an int. Received: {k!r}")
        i, j = expand_dims(arange(rows), -1), arange(cols)
        keep = greater_equal(add(i, int(k)), j) if lower else less_equal(add(i, int(k)), j)
        return where(keep, x, zeros_like(x))
    mask = np.tril(np.ones((rows, cols), np.float32), k) if lower else np.triu(np.ones((rows, cols), np.float32), k)
    if not is_symbolic([x]):
        return np.asarray(x) * mask.astype(np.asarray(x).dtype)
    return where(mask, x, zeros_like(x))


def _shape(x):
    if isinstance(x, (KerasTensor, Weight)):
        return tuple(x.shape)
    return np.shape(x)


def _full_shape(x):
    """The shape with the batch axis and run-time lengths as their Dims."""
    if isinstance(x, KerasTensor):
        return tuple(x.full_dims)
    return _shape(x)


# -- creation --


def _dtype_name(dtype, default):
    if dtype is None:
        return default
    return dtype if isinstance(dtype, str) else str(np.dtype(dtype))


def _shape_list(shape):
    return [int(s) for s in ((shape,) if isinstance(shape, (int, np.integer)) else shape)]


def _filled(kind, shape, attrs):
    shape = (shape,) if isinstance(shape, (int, np.integer, Dim)) else tuple(shape)
    if _has_dim(shape):  # the program takes the lengths from the output tensor, per call
        return _record(kind, {**attrs, "_shape": _with_dims(shape)[1]})
    return apply(kind, [], {**attrs, "shape": _shape_list(shape)})


def zeros(shape, dtype=None):
    return _filled("zeros", shape, {"_dtype": _dtype_name(dtype, "float32")})


def ones(shape, dtype=None):
    return _filled("ones", shape, {"_dtype": _dtype_name(dtype, "float32")})


def full(shape, fill_value, dtype=None):
    return _filled("full", shape, {"fill_value": float(fill_value),
                                   "_dtype": _dtype_name(dtype, "int32" if isinstance(fill_value, int) else "float32")})


def eye(N, M=None, k=0, dtype=None):
    return apply("eye", [], {"N": int(N), "M": None if M is None else int(M), "k": int(k),
                             "_dtype": _dtype_name(dtype, "float32")})


def identity(n, dtype=None):
    return eye(n, dtype=dtype)


def arange(start, stop=None, step=None, dtype=None):
    if stop is None:
        start, stop = 0, start
    step = 1 if step is None else step
    if isinstance(start, Dim) or isinstance(stop, Dim):
        return _arange_run_time(start, stop, step, dtype)
    if builtins.any(v is None or isinstance(v, KerasTensor) for v in (start, stop, step)):
        raise ValueError("arange: start, stop and step must be Python numbers (a run-time length cannot size it; "
                         "positions along a run-time axis: ops.cumsum(ops.ones_like(x), axis) - 1)")
    ints = builtins.all(isinstance(v, (int, np.integer)) for v in (start, stop, step))
    conv = int if ints else float
    return apply("arange", [], {"start": conv(start), "stop": conv(stop), "step": conv(step),
                                "_dtype": _dtype_name(dtype, "int32" if ints else "float32")})


def _arange_run_time(start, stop, step, dtype):
    """arange up to a run-time length (a Dim): ceil((stop - start) / step) values, counted per call."""
    ints = builtins.all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (start, step))
    if isinstance(start, Dim) or not ints or step < 1:
        raise ValueError("arange: with a run-time length, only stop may be one; start and step must be ints, "
                         f"step >= 1. Received: start={start!r}, stop={stop!r}, step={step!r}")
    n = (stop + (int(step) - 1 - int(start))) // int(step)
    return _record("arange", {"start": int(start), "step": int(step), "_length": n,
                              "_dtype": _dtype_name(dtype, "int32")})


def zeros_like(x, dtype=None):
    return apply("zeros_like", [x], {"_dtype": dtype and _dtype_name(dtype, None)})


def ones_like(x, dtype=None):
    return apply("ones_like", [x], {"_dtype": dtype and _dtype_name(dtype, None)})


def full_like(x, fill_value, dtype=None):
    return apply("full_like", [x], {"fill_value": float(fill_value), "_dtype": dtype and _dtype_name(dtype, None)})


def empty(shape, dtype=None):
    return zeros(shape, dtype)


def size(x):
    s = _shape(x)
    return None if builtins.any(d is None for d in s) else int(np.prod(s, dtype=np.int64))


def ndim(x):
    return _ndim(x)


def count_nonzero(x, axis=None):
    return sum(cast(not_equal(x, 0.0), "int32"), axis=axis)


# -- more creation and layout --


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    """num evenly spaced values from start to stop (stop included when endpoint); float32."""
    num = int(num)
    if num < 0:
        raise ValueError(f"linspace: num must be >= 0. Received: num={num}")
    if is_symbolic([start, stop]):
        div = (num - 1) if endpoint else num
        step = divide(subtract(stop, start), float(builtins.max(div, 1)))
        nd = builtins.max(_ndim(start), _ndim(stop))
        steps = reshape(arange(num, dtype="float32"), (num,) + (1,) * nd)
        out = add(expand_dims(start, 0) if nd else start, multiply(steps, expand_dims(step, 0) if nd else step))
        if endpoint and num > 1:
            last = expand_dims(broadcast_to(stop, _shape(out)[1:]) if nd else stop, 0)
            out = concatenate([out[:num - 1], last], 0) if nd else concatenate([out[:num - 1], reshape(last, (1,))])
        out = moveaxis(out, 0, axis) if nd and axis != 0 else out
        out = out if dtype is None else cast(out, dtype)
        return (out, step) if retstep else out
    res = np.linspace(np.asarray(start, np.float64), np.asarray(stop, np.float64), num, endpoint=endpoint,
                      retstep=retstep, axis=axis)
    dt = _dtype_name(dtype, "float32")
    if retstep:
        return res[0].astype(dt), np.asarray(res[1]).astype(dt)
    return res.astype(dt)


def logspace(start, stop, num=50, endpoint=True, base=10, dtype=None, axis=0):
    """base ** linspace(start, stop, num)."""
    exps = linspace(start, stop, num, endpoint=endpoint, axis=axis)
    if not is_symbolic([exps]):
        res = np.power(float(base), np.linspace(np.asarray(start, np.float64), np.asarray(stop, np.float64), num,
                                                endpoint=endpoint, axis=axis))
        return res.astype(_dtype_name(dtype, "float32"))
    out = power(float(base), exps)
    return out if dtype is None else cast(out, dtype)


def tri(N, M=None, k=0, dtype=None):
    """Ones at and below the k-th diagonal of an N x M matrix."""
    return np.tri(int(N), None if M is None else int(M), int(k)).astype(_dtype_name(dtype, "float32"))


def diagonal(x, offset=0, axis1=0, axis2=1):
    """The offset-th diagonal of the (axis1, axis2) planes, as the last axis (NumPy's order)."""
    n = _ndim(x)
    a1, a2 = axis1 % n, axis2 % n
    if a1 == a2:
        raise ValueError("diagonal: axis1 and axis2 cannot be the same")
    if a1 != n - 2 or a2 != n - 1:
        x = transpose(x, [i for i in range(n) if i not in (a1, a2)] + [a1, a2])
    shape = _shape(x)
    rows, cols = shape[-2], shape[-1]
    if rows is None or cols is None:
        raise ValueError("diagonal: the two axes need static lengths (not the batch axis)")
    length = builtins.max(0, builtins.min(rows + builtins.min(offset, 0), cols - builtins.max(offset, 0)))
    r0, c0 = builtins.max(-offset, 0), builtins.max(offset, 0)
    idx = np.array([(r0 + i) * cols + c0 + i for i in range(length)], np.int32)
    flat = reshape(x, tuple(-1 if s is None else s for s in shape[:-2]) + (rows * cols,))
    return take(flat, idx, axis=-1)


def diag(x, k=0):
    """A 1-D x on the k-th diagonal of a square matrix, or a 2-D x's k-th diagonal."""
    nd = _ndim(x)
    if nd == 2:
        return diagonal(x, k, 0, 1)
    if nd != 1:
        raise ValueError(f"diag: x must be 1-D or 2-D. Received: rank {nd}")
    n = _shape(x)[0]
    m = n + builtins.abs(int(k))
    mask = np.eye(m, m, int(k), dtype=np.float32)
    v = pad(x, [(0, builtins.abs(int(k)))])
    return multiply(mask, reshape(v, (-1, 1)) if k >= 0 else reshape(v, (1, -1)))


def trace(x, offset=0, axis1=0, axis2=1):
    return sum(diagonal(x, offset, axis1, axis2), axis=-1)


def _atleast(x, n):
    nd = _ndim(x)
    if nd >= n:
        return x
    if n == 2:
        return reshape(x, (1, -1)) if nd == 1 else reshape(x, (1, 1))
    if nd == 0:
        return reshape(x, (1, 1, 1))
    return reshape(x, (1, -1, 1)) if nd == 1 else expand_dims(x, -1)


def hstack(xs):
    xs = list(xs)
    return concatenate(xs, 0 if builtins.all(_ndim(x) == 1 for x in xs) else 1)


def vstack(xs):
    return concatenate([_atleast(x, 2) for x in xs], 0)


def dstack(xs):
    return concatenate([_atleast(x, 3) for x in xs], 2)


def fliplr(x):
    return flip(x, 1)


def flipud(x):
    return flip(x, 0)


def rot90(array, k=1, axes=(0, 1)):
    """Rotates the (axes[0], axes[1]) planes by 90 degrees k times, from the first axis to the second."""
    n = _ndim(array)
    a0, a1 = axes[0] % n, axes[1] % n
    if a0 == a1 or len(axes) != 2:
        raise ValueError(f"rot90: axes must be two different axes. Received: axes={axes!r}")
    k %= 4
    if k == 0:
        return copy(array)
    if k == 2:
        return flip(flip(array, a0), a1)
    perm = list(range(n))
    perm[a0], perm[a1] = perm[a1], perm[a0]
    if k == 1:
        return transpose(flip(array, a1), perm)
    return flip(transpose(array, perm), a1)


def meshgrid(*x, indexing="xy"):
    """Coordinate grids of 1-D vectors ("xy": the first two axes swapped, as NumPy's default)."""
    if indexing not in ("xy", "ij"):
        raise ValueError(f"meshgrid: indexing must be 'xy' or 'ij'. Received: {indexing!r}")
    lens = [_shape(v)[0] if _ndim(v) == 1 else int(np.size(v)) for v in x]
    n = len(x)
    order = list(range(n))
    if indexing == "xy" and n >= 2:
        order[0], order[1] = 1, 0
    full = [lens[order[i]] for i in range(n)]
    outs = []
    for i, v in enumerate(x):
        shape = [1] * n
        shape[order.index(i)] = -1
        outs.append(broadcast_to(reshape(v, shape), full))
    return outs


def _slice_axis(x, axis, start, stop):
    n = _ndim(x)
    st, sp = [None] * n, [None] * n
    st[axis], sp[axis] = start, stop
    return apply("slice", [x], {"start": st, "stop": sp, "step": [1] * n})


def diff(a, n=1, axis=-1):
    """The n-th forward difference along axis."""
    nd = _ndim(a)
    ax = axis % nd
    for _ in range(int(n)):
        a = subtract(_slice_axis(a, ax, 1, None), _slice_axis(a, ax, None, -1))
    return a


def ptp(x, axis=None, keepdims=False):
    """max - min over axis."""
    return subtract(max(x, axis=axis, keepdims=keepdims), min(x, axis=axis, keepdims=keepdims))


def shape_of(x):
    """x's shape (None for the batch axis and run-time lengths)."""
    return _shape(x)



__all__ = [n for n in dir() if not n.startswith("_") and n not in ("np", "builtins", "einsum_module", "apply",
                                                                    "is_symbolic", "to_symbolic", "KerasTensor",
                                                                    "shape_of",
                                                                    "Weight")]
__all__.append("_positive")
