"""keras.ops.view (a dtype bitcast, on arrays only), keras.ops.vectorize (eager: pyfunc over the
broadcast elements, NumPy's vectorize rules) and keras.ops.associative_scan (f applied along the
axis in order, so also traced: slices, f's ops and one concatenate, unrolled at trace time)."""

import numpy as np

from bigcore import _tensor
from bigcore.ops.node import is_symbolic, to_array
from bigcore.ops.numpy import concatenate, take

_DTYPES = {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16", "float32",
           "float64", "bfloat16", "complex64", "complex128"}


def view(x, dtype=None):
    """The same bytes read as `dtype` (torch's / NumPy's view: a narrower or wider type rescales
    the last axis). On arrays only: bigcore's program has no bitcast."""
    if is_symbolic([x]):
        raise NotImplementedError("ops.view runs eagerly only (on arrays): bigcore's traced programs have no "
                                  "bitcast. Call it on NumPy arrays, outside a model or custom call()")
    a = to_array(x)
    if not isinstance(x, np.ndarray) and a.dtype.itemsize == 8:  # Python numbers and lists: Keras's 32-bit
        a = a.astype(np.int32 if a.dtype.kind in "iu" else np.float32)
    if dtype is None:
        return a.copy()
    name = str(np.dtype(dtype)) if not isinstance(dtype, str) else dtype
    if name not in _DTYPES:
        raise ValueError(f"ops.view: unknown dtype {dtype!r}; expected one of {sorted(_DTYPES)}")
    if name == "bfloat16":
        raise NotImplementedError("ops.view: NumPy has no bfloat16, so bigcore cannot view as it. Expected another "
                                  "dtype. Received: dtype='bfloat16'")
    target = np.dtype(name)
    if target.itemsize != a.dtype.itemsize and (a.ndim == 0 or (a.shape[-1] * a.dtype.itemsize) % target.itemsize):
        raise ValueError(f"ops.view: cannot view an array of shape {a.shape} and dtype {a.dtype} as {name}: the "
                         "last axis's bytes must divide into whole elements of the new dtype")
    return np.ascontiguousarray(a).view(target)


def vectorize(pyfunc, *, excluded=None, signature=None):
    """pyfunc over the broadcast elements of its arguments (or, with a gufunc `signature` such as
    "(m,n),(n)->(m)", over their leading axes), results stacked: NumPy's vectorize, eager only.
    `excluded` names positional arguments passed to pyfunc unchanged (as Keras documents it)."""
    if not callable(pyfunc):
        raise ValueError(f"Expected argument `pyfunc` to be a callable. Received: pyfunc={pyfunc}")

    def as_array(out):
        if isinstance(out, tuple):
            return tuple(as_array(o) for o in out)
        return np.asarray(out)

    inner = np.vectorize(lambda *a, **k: as_array(pyfunc(*a, **k)), excluded=set(excluded or ()),
                         signature=signature)

    def wrapped(*args, **kwargs):
        if is_symbolic(list(args) + list(kwargs.values())):
            raise NotImplementedError("ops.vectorize runs eagerly only (on arrays). Inside a model or a custom "
                                      "call(), use ops.vectorized_map or write pyfunc with broadcasting ops")
        out = inner(*args, **kwargs)
        return _tensor.wrap(tuple(np.asarray(o) for o in out) if isinstance(out, tuple) else np.asarray(out))

    wrapped.__name__ = getattr(pyfunc, "__name__", "vectorized")
    wrapped.__doc__ = getattr(pyfunc, "__doc__", None)
    return wrapped


def _leaves(tree):
    if isinstance(tree, (list, tuple)):
        return [leaf for t in tree for leaf in _leaves(t)]
    if isinstance(tree, dict):
        return [leaf for k in sorted(tree) for leaf in _leaves(tree[k])]
    return [tree]


def _rebuild(tree, it):
    if isinstance(tree, (list, tuple)):
        return type(tree)(_rebuild(t, it) for t in tree)
    if isinstance(tree, dict):
        return {k: _rebuild(tree[k], it) for k in sorted(tree)}
    return next(it)


def associative_scan(f, elems, reverse=False, axis=0):
    """[a, f(a, b), f(f(a, b), c), ...] along `axis` of each array of `elems` (a nested structure);
    f takes and returns that structure with the axis kept (length one here). reverse=True scans
    from the end. The elements are combined in order (f must be associative, as Keras requires, so
    the result is the parallel scan's)."""
    leaves = _leaves(elems)
    arrays = [x if is_symbolic([x]) else to_array(x) for x in leaves]
    sizes = set()
    for x in arrays:
        shape = tuple(x.shape)
        if not shape:
            raise ValueError("ops.associative_scan: elems must be arrays with an axis to scan; got a scalar")
        sizes.add(shape[axis])
    if len(sizes) != 1 or None in sizes:
        raise ValueError(f"Array inputs to associative_scan must have the same first dimension (along `axis`). Got "
                         f"lengths {sorted(sizes, key=str)}")
    n = sizes.pop()
    if n == 0:
        return elems

    def piece(i):
        return _rebuild(elems, iter([take(x, np.array([i], np.int32), axis=axis) for x in arrays]))

    order = range(n - 1, -1, -1) if reverse else range(n)
    acc, outs = None, []
    for i in order:
        acc = piece(i) if acc is None else f(acc, piece(i))
        outs.append(_leaves(acc))
    if reverse:
        outs.reverse()
    joined = [concatenate([o[k] for o in outs], axis=axis) for k in range(len(leaves))]
    return _rebuild(elems, iter(joined))
