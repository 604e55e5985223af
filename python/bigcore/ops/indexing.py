"""NumPy-style indexing of tensors (`x[:, -1]`, `x[..., 1:3, None]`), as slice + squeeze +
expand_dims primitives; an integer tensor as the only index gathers along axis 0 (take)."""

import numpy as np

from bigcore.layers.base import KerasTensor, Weight
from bigcore.ops.node import apply


def _rank(x):
    return len(x.shape) if isinstance(x, (KerasTensor, Weight)) else np.ndim(x)


def _int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def getitem(x, key):
    if isinstance(key, (KerasTensor, np.ndarray, list)) and not isinstance(key, tuple):
        arr = key
        if isinstance(arr, (np.ndarray, list)) and np.asarray(arr).dtype == bool:
            raise TypeError("indexing with a boolean mask gives a shape that depends on the values: it cannot be "
                            "traced (use bigcore.ops.where)")
        return apply("take", [x, arr], {"axis": 0})
    key = key if isinstance(key, tuple) else (key,)
    for k in key:
        if isinstance(k, (KerasTensor, np.ndarray, list)):
            raise TypeError("a tensor index is supported only as the sole index (x[ids]); use ops.take(x, ids, axis)")
        if not (k is None or k is Ellipsis or isinstance(k, slice) or _int(k)):
            raise TypeError(f"unsupported index {k!r} (ints, slices, None and ... are)")
    n_real = sum(1 for k in key if k is not None and k is not Ellipsis)
    if sum(1 for k in key if k is Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    nd = _rank(x)
    if n_real > nd:
        raise IndexError(f"too many indices for a tensor of rank {nd}")
    if Ellipsis in key:
        i = key.index(Ellipsis)
        key = key[:i] + (slice(None),) * (nd - n_real) + key[i + 1:]
    else:
        key = key + (slice(None),) * (nd - n_real)
    starts, stops, steps, drop, new = [], [], [], [], []
    axis, out_axis = 0, 0
    for k in key:
        if k is None:
            new.append(out_axis)
            out_axis += 1
            continue
        if isinstance(k, slice):
            starts.append(None if k.start is None else int(k.start))
            stops.append(None if k.stop is None else int(k.stop))
            steps.append(None if k.step is None else int(k.step))
            out_axis += 1
        else:
            i = int(k)
            starts.append(i)
            stops.append(None if i == -1 else i + 1)
            steps.append(1)
            drop.append(axis)
        axis += 1
    y = x
    if any(v is not None for v in starts + stops) or any(v not in (None, 1) for v in steps):
        while starts and starts[-1] is None and stops[-1] is None and steps[-1] in (None, 1):
            starts.pop(), stops.pop(), steps.pop()
        y = apply("slice", [y], {"start": starts, "stop": stops, "step": [1 if s is None else s for s in steps]})
    if drop:
        y = apply("squeeze", [y], {"axis": drop})
    if new:
        y = apply("expand_dims", [y], {"axis": new})
    if y is x:
        y = apply("identity", [x])
    return y
