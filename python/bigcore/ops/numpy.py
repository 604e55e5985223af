"""keras.ops's NumPy-style functions: elementwise maths, reductions, layout, creation.

Each runs at once on arrays (returning a numpy array) or records a node on symbolic tensors
(node.py); the semantics are Keras 3's (keras/src/ops/numpy.py), computed in float32.
"""

import builtins

import numpy as np

from bigcore.layers.base import KerasTensor, Weight
from bigcore.layers.dims import BATCH, Dim, Lengths
from bigcore.ops import einsum as einsum_module
from bigcore.ops.node import OpLayer, apply, is_symbolic, to_symbolic


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


# -- more elementwise maths (composed from the primitives, exact or to float32 round-off) --

_PI = float(np.pi)
_LN2 = float(np.log(2.0))
_F32_MAX = float(np.finfo(np.float32).max)


def _is_int(x):
    from_ = x.dtype if isinstance(x, (KerasTensor, Weight)) else np.asarray(x).dtype
    return str(from_).startswith(("int", "uint", "bool"))


def _safe(cond, x, fill=1.0):
    """x where cond, fill elsewhere: keeps an unselected branch of a where finite (and its gradient)."""
    return where(cond, x, fill)


def _no_grad(x):
    """x as a value only: a symbolic x through stop_gradient (comparisons pass a zero gradient back, and
    zero times an infinite local derivative would be NaN)."""
    return apply("stop_gradient", [x]) if is_symbolic([x]) else x


def isnan(x):
    """NaN entries (bool; all False for integers)."""
    return not_equal(x, x)


def isinf(x):
    return equal(absolute(x), float("inf"))


def isfinite(x):
    """Neither NaN nor infinite (bool)."""
    return less(absolute(x), float("inf"))


def isclose(x1, x2, rtol=1e-5, atol=1e-8, equal_nan=False):
    """|x1 - x2| <= atol + rtol * |x2| (NumPy's and torch's test); infinities close only to themselves."""
    close = less_equal(absolute(subtract(x1, x2)), add(multiply(absolute(x2), float(rtol)), float(atol)))
    close = where(logical_and(isfinite(x1), isfinite(x2)), close, equal(x1, x2))
    if equal_nan:
        close = logical_or(close, logical_and(isnan(x1), isnan(x2)))
    return close


def allclose(x1, x2, rtol=1e-5, atol=1e-8, equal_nan=False):
    """Whether every entry isclose (a 0-d bool)."""
    return all(isclose(x1, x2, rtol=rtol, atol=atol, equal_nan=equal_nan))


def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    """NaN -> nan, +inf -> posinf (float32's largest by default), -inf -> neginf (its lowest)."""
    if _is_int(x):
        return copy(x)
    posinf = _F32_MAX if posinf is None else float(posinf)
    neginf = -_F32_MAX if neginf is None else float(neginf)
    x = where(equal(x, float("inf")), posinf, x)
    x = where(equal(x, float("-inf")), neginf, x)
    return where(isnan(x), float(nan), x)


def trunc(x):
    """Rounds toward zero (no gradient, as Keras's)."""
    if _is_int(x):
        return copy(x)
    return where(less(x, 0.0), ceil(x), floor(x))


def fmod(x1, x2):
    """C's fmod: the remainder of x1 / x2 with x1's sign (mod takes x2's)."""
    return multiply(mod(absolute(x1), absolute(x2)), sign(x1))


def hypot(x1, x2):
    """sqrt(x1^2 + x2^2) without overflow: max * sqrt(1 + (min / max)^2)."""
    a, b = absolute(x1), absolute(x2)
    hi, lo = maximum(a, b), minimum(a, b)
    zero = equal(hi, 0.0)
    r = divide(lo, _safe(logical_not(zero), hi))
    out = where(zero, 0.0, multiply(hi, sqrt(add(square(r), 1.0))))
    return where(logical_or(isinf(x1), isinf(x2)), float("inf"), out)  # inf even beside NaN, as NumPy


def logaddexp(x1, x2):
    """log(exp(x1) + exp(x2)) = max + log1p(exp(-|x1 - x2|))."""
    d = subtract(x1, x2)
    d = where(isnan(d), 0.0, d)  # both +inf or both -inf: the max alone
    return add(maximum(x1, x2), log1p(exp(negative(absolute(d)))))


def cbrt(x):
    """The real cube root: sign(x) |x|^(1/3), then one Newton step (1/3 is not a float32)."""
    y = multiply(sign(x), power(absolute(x), 1.0 / 3.0))
    done = logical_or(equal(y, 0.0), logical_not(isfinite(y)))
    ys = _safe(logical_not(done), y)
    return where(done, y, divide(add(multiply(ys, 2.0), divide(x, square(ys))), 3.0))


def exp2(x):
    return power(2.0, cast(x, "float32") if _is_int(x) else x)


def tan(x):
    return divide(sin(x), cos(x))


def _exp_halves(a):
    """(exp(a) / 2, exp(-a) / 2) for a >= 0 as (e / 2) e and (1 / 2e) / e, e = exp(a / 2): finite while
    exp(a) / 2 is."""
    e = exp(multiply(a, 0.5))
    return multiply(multiply(e, 0.5), e), divide(divide(0.5, e), e)


def sinh(x):
    a = absolute(x)
    small = less(a, 1.0)
    xs = _safe(small, x, 0.0)
    up, down = _exp_halves(a)
    return where(small, multiply(subtract(expm1(xs), expm1(negative(xs))), 0.5), multiply(sign(x), subtract(up, down)))


def cosh(x):
    up, down = _exp_halves(absolute(x))
    return add(up, down)


def arctan(x):
    """Cephes's atanf: range reduction to |t| <= tan(pi / 8) and an odd polynomial (float32 round-off)."""
    x = cast(x, "float32") if _is_int(x) else x
    a = absolute(x)
    s = sign(x)
    big = greater(a, 2.414213562373095)
    mid = logical_and(greater(a, 0.4142135623730950), logical_not(big))
    t_big = divide(-1.0, _safe(big, x))
    t_mid = multiply(divide(subtract(a, 1.0), add(a, 1.0)), s)
    t = where(big, t_big, where(mid, t_mid, x))
    y0 = multiply(s, where(big, _PI / 2, where(mid, _PI / 4, 0.0)))
    z = square(t)
    p = add(multiply(z, 8.05374449538e-2), -1.38776856032e-1)
    p = add(multiply(p, z), 1.99777106478e-1)
    p = add(multiply(p, z), -3.33329491539e-1)
    return add(y0, add(multiply(multiply(p, z), t), t))


def arctan2(x1, x2):
    """The angle of (x2, x1) in [-pi, pi]: arctan(x1 / x2) moved to x2's half-plane."""
    y, x = x1, x2
    zero = equal(x, 0.0)
    at = arctan(divide(y, _safe(logical_not(zero), x)))
    neg_y = signbit(y)
    turn = where(less(x, 0.0), where(neg_y, -_PI, _PI), 0.0)
    on_axis = where(equal(y, 0.0), 0.0, multiply(sign(y), _PI / 2))
    return where(zero, on_axis, add(at, turn))


def arcsin(x):
    c = sqrt(multiply(subtract(1.0, x), add(1.0, x)))
    return arctan2(x, c)


def arccos(x):
    c = sqrt(multiply(subtract(1.0, x), add(1.0, x)))
    return arctan2(c, x)


def arcsinh(x):
    a = absolute(x)
    small = less(a, 0.5)
    huge = greater(a, 1e4)
    xs = _safe(small, x, 0.0)
    near = log1p(add(xs, divide(square(xs), add(sqrt(add(square(xs), 1.0)), 1.0))))
    am = _safe(logical_not(huge), a)
    mid = log1p(add(am, divide(square(am), add(sqrt(add(square(am), 1.0)), 1.0))))
    far = add(log(_safe(huge, a)), _LN2)
    return where(small, near, multiply(sign(x), where(huge, far, mid)))


def arccosh(x):
    huge = greater(x, 1e4)
    t = subtract(_safe(logical_not(huge), x, 2.0), 1.0)
    near = log1p(add(t, sqrt(multiply(t, add(t, 2.0)))))
    return where(huge, add(log(_safe(huge, x)), _LN2), near)


def arctanh(x):
    """(log1p(x) - log1p(-x)) / 2: accurate near 0 and near +-1."""
    return multiply(subtract(log1p(x), log1p(negative(x))), 0.5)


def deg2rad(x):
    return multiply(x, _PI / 180.0)


def rad2deg(x):
    return multiply(x, 180.0 / _PI)


def signbit(x):
    """Whether the sign bit is set (negative numbers and -0.0; bool)."""
    if _is_int(x):
        return less(x, 0)
    x = _no_grad(x)  # 1 / x only tells -0.0 from 0.0: no (infinite) gradient may flow back through it
    return logical_or(less(x, 0.0), logical_and(equal(x, 0.0), less(reciprocal(x), 0.0)))


def heaviside(x1, x2):
    """0 where x1 < 0, 1 where x1 > 0, x2 where x1 == 0 (NaN stays NaN)."""
    x1 = cast(x1, "float32") if _is_int(x1) else x1
    out = where(less(x1, 0.0), 0.0, where(greater(x1, 0.0), 1.0, x2))
    return where(isnan(x1), x1, out)


def sinc(x):
    """sin(pi x) / (pi x), 1 at 0."""
    zero = equal(x, 0.0)
    px = multiply(_safe(logical_not(zero), x), _PI)
    return where(zero, 1.0, divide(sin(px), px))


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


# -- sorting (eager: NumPy's stable sort; traced: ranks by pairwise comparisons, O(n^2) per row) --


def _batched(x):
    return isinstance(x, KerasTensor) and bool(x.full_dims) and x.full_dims[0] is BATCH


def _sort_axis_ok(x, axis, kind):
    s = _full_shape(x)
    nd = len(s)
    ax = axis % nd
    if _batched(x) and ax == 0:
        raise ValueError(f"{kind}: sorting along the batch axis is not supported in a model")
    if isinstance(s[ax], Dim):
        raise ValueError(f"{kind}: the sorted axis needs a static length in a model (it has a run-time one)")
    return ax


def _order(x, axis, descending):
    """The stable sorting permutation along `axis` (int32), from ranks: rank_i = #{j: x_j before x_i}.
    NaN counts as the largest value (last ascending, as NumPy; first descending, as torch's topk)."""
    ax = _sort_axis_ok(x, axis, "sort")
    x = _no_grad(x)  # the permutation has no gradient (the sorted values get theirs through take_along_axis)
    nd = _ndim(x)
    x = moveaxis(x, ax, -1) if ax != nd - 1 else x
    n = _shape(x)[-1]
    xi, xj = expand_dims(x, -1), expand_dims(x, -2)            # (..., i, 1), (..., 1, j)
    ahead = greater(xj, xi) if descending else less(xj, xi)
    same = equal(xj, xi)
    if not _is_int(x):
        nj, ni = isnan(xj), isnan(xi)
        ahead = logical_or(ahead, logical_and(nj, logical_not(ni)) if descending else
                           logical_and(ni, logical_not(nj)))
        same = logical_or(same, logical_and(nj, ni))
    earlier = np.tril(np.ones((n, n), bool), -1)              # [i, j]: j < i
    before = logical_or(ahead, logical_and(same, earlier))
    rank = sum(cast(before, "int32"), axis=-1)                 # (..., i)
    at = equal(expand_dims(rank, -2), np.arange(n, dtype=np.int32).reshape(n, 1))  # (..., r, i)
    perm = sum(multiply(cast(at, "int32"), np.arange(n, dtype=np.int32)), axis=-1)  # (..., r)
    return moveaxis(perm, -1, ax) if ax != nd - 1 else perm


def descending_order(x, axis=-1):
    """The stable permutation sorting x descending along axis (a traced top_k's indices)."""
    return _order(x, axis, descending=True)


def shape_of(x):
    """x's shape (None for the batch axis and run-time lengths)."""
    return _shape(x)


def argsort(x, axis=-1):
    """The indices that sort x ascending along axis (stable; int32; axis None: of the flattened x)."""
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    if not is_symbolic([x]):
        return np.argsort(_arr(x), axis=axis, kind="stable").astype(np.int32)
    return _order(x, axis, descending=False)


def sort(x, axis=-1):
    """x sorted ascending along axis (gradients flow to the entries where they land)."""
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    if not is_symbolic([x]):
        return np.sort(_arr(x), axis=axis, kind="stable")
    return take_along_axis(x, _order(x, axis, descending=False), axis)


def searchsorted(sorted_sequence, values, side="left"):
    """Insertion indices of values into the 1-D ascending sorted_sequence (int32)."""
    if side not in ("left", "right"):
        raise ValueError(f"searchsorted: side must be 'left' or 'right'. Received: {side!r}")
    if _ndim(sorted_sequence) != 1:
        raise ValueError("searchsorted: only 1-D sorted sequences are supported. Received: rank "
                         f"{_ndim(sorted_sequence)}")
    if not is_symbolic([sorted_sequence, values]):
        return np.searchsorted(_arr(sorted_sequence), _arr(values), side=side).astype(np.int32)
    v = expand_dims(values, -1)
    below = less(sorted_sequence, v) if side == "left" else less_equal(sorted_sequence, v)
    return sum(cast(below, "int32"), axis=-1)


def _quantile_eager(x, q, axis, method, keepdims):
    a = _arr(x)
    dt = np.float32 if a.dtype != np.float64 else np.float64
    return np.asarray(np.quantile(a.astype(dt), np.asarray(q, np.float64), axis=axis, method=method,
                                  keepdims=keepdims)).astype(np.float32)


def _quantile_traced(x, q, axis, method, keepdims):
    qs = np.asarray(q, np.float64)
    if isinstance(axis, (list, tuple)):
        if len(axis) != 1:
            raise ValueError("quantile: over several axes is supported eagerly only; reshape them into one")
        axis = axis[0]
    nd = _ndim(x)
    if axis is None:
        if _batched(x):
            raise ValueError("quantile: axis=None reduces the batch axis; give an axis")
        src_shape, x, ax = _shape(x), reshape(x, (-1,)), 0
    else:
        ax, src_shape = axis % nd, None
    if qs.ndim and _batched(x):
        raise ValueError("quantile: a vector q puts the quantiles' axis first, before the batch axis, which a model "
                         "keeps first; call it once per q")
    x = cast(x, "float32") if _is_int(x) else x
    s = sort(x, axis=ax)
    n = _shape(s)[ax]
    outs = []
    for qv in qs.reshape(-1):
        pos = qv * (n - 1)
        lo, hi = int(np.floor(pos)), int(np.ceil(pos))
        frac = pos - lo
        if method == "lower" or (method == "linear" and frac == 0):
            idx = [lo]
        elif method == "higher":
            idx = [hi]
        elif method == "nearest":
            idx = [int(np.round(pos))]  # NumPy's: half to even
        else:
            idx = [lo, hi]
        parts = [take(s, np.array([i], np.int32), axis=ax) for i in idx]
        if len(parts) == 1:
            v = parts[0]
        elif method == "midpoint":
            v = multiply(add(parts[0], parts[1]), 0.5)
        else:
            v = add(parts[0], multiply(subtract(parts[1], parts[0]), float(frac)))
        if keepdims:
            v = reshape(v, (1,) * len(src_shape)) if src_shape is not None else v
        else:
            v = squeeze(v, ax)
        outs.append(v)
    return stack(outs, 0) if qs.ndim else outs[0]


def quantile(x, q, axis=None, method="linear", keepdims=False):
    """The q-th quantiles (q in [0, 1]; a 1-D q gives its axis first) over axis, float32."""
    if method not in ("linear", "lower", "higher", "midpoint", "nearest"):
        raise ValueError(f"quantile: unknown method {method!r}")
    if is_symbolic([q]):
        raise ValueError("quantile: q must be numbers (not a symbolic tensor)")
    if np.any(np.asarray(q) < 0) or np.any(np.asarray(q) > 1):
        raise ValueError(f"quantile: q must be in [0, 1]. Received: q={q!r}")
    if not is_symbolic([x]):
        return _quantile_eager(x, q, axis, method, keepdims)
    return _quantile_traced(x, q, axis, method, keepdims)


def percentile(x, q, axis=None, method="linear", keepdims=False):
    """quantile with q in percent."""
    return quantile(x, np.asarray(q, np.float64) / 100.0, axis=axis, method=method, keepdims=keepdims)


def median(x, axis=None, keepdims=False):
    return quantile(x, 0.5, axis=axis, keepdims=keepdims)


# -- value-dependent shapes: eager only --


def _eager_only(kind, args):
    if is_symbolic(args):
        raise ValueError(f"{kind}: its result's shape depends on the values, so it cannot be traced into a model "
                         "(it runs on arrays only)")


def nonzero(x):
    """The indices of the non-zero entries, one int32 vector per axis (NumPy's tuple)."""
    _eager_only("nonzero", [x])
    return tuple(i.astype(np.int32) for i in np.nonzero(_arr(x)))


def unique(x, sorted=True, return_index=False, return_inverse=False, return_counts=False,  # noqa: A002
           axis=None, size=None, fill_value=None):
    """The sorted unique values (and NumPy's index, inverse and counts on request); size pads or
    truncates them to a fixed length with fill_value (the smallest value by default)."""
    _eager_only("unique", [x])
    a = _arr(x)
    res = np.unique(a, return_index=return_index, return_inverse=return_inverse, return_counts=return_counts,
                    axis=axis)
    res = list(res) if isinstance(res, tuple) else [res]
    vals = res[0]
    if size is not None:
        n = vals.shape[0 if axis is None else axis]
        fill = (vals.min() if vals.size else 0) if fill_value is None else fill_value
        if n < size:
            pad_shape = list(vals.shape)
            pad_shape[0 if axis is None else axis] = size - n
            vals = np.concatenate([vals, np.full(pad_shape, fill, vals.dtype)], 0 if axis is None else axis)
            if return_counts:
                res[-1] = np.concatenate([res[-1], np.zeros(size - n, res[-1].dtype)])
            if return_index:
                res[1] = np.concatenate([res[1], np.zeros(size - n, res[1].dtype)])
        else:
            vals = np.take(vals, np.arange(size), axis=0 if axis is None else axis)
            if return_counts:
                res[-1] = res[-1][:size]
            if return_index:
                res[1] = res[1][:size]
    res[0] = vals.astype(np.float32) if vals.dtype == np.float64 else vals
    res[1:] = [r.astype(np.int32) for r in res[1:]]
    return res[0] if len(res) == 1 else tuple(res)


def _arr(x):
    if isinstance(x, Weight):
        return x.value
    a = np.asarray(x)
    return a.astype(np.float32) if a.dtype == np.float64 else a


__all__ = [n for n in dir() if not n.startswith("_") and n not in ("np", "builtins", "einsum_module", "apply",
                                                                    "is_symbolic", "to_symbolic", "KerasTensor",
                                                                    "descending_order", "shape_of", "BATCH",
                                                                    "Weight")]
__all__.append("_positive")
