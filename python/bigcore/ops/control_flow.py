"""keras.ops's loops and branches: fori_loop, while_loop, scan, map, vectorized_map, switch.

A traced call() has no loop op: these run their Python function at trace time, once per step,
so the steps are unrolled into the program. That needs the trip count at trace time: Python
numbers (or arrays) for the bounds, a static leading axis for scan / map over tensors, and a
condition that is a Python (or NumPy) value. On arrays they run eagerly, step by step."""

import numpy as np

from bigcore.layers.base import KerasTensor
from bigcore.ops.numpy import stack


def _count(v, what):
    if isinstance(v, KerasTensor):
        raise TypeError(f"ops.{what}: a symbolic bound has no value while the model is traced, and the loop is "
                        "unrolled at trace time; give Python numbers")
    return int(np.asarray(v))


def fori_loop(lower, upper, body_fun, init_val):
    """val = body_fun(i, val) for i in [lower, upper)."""
    val = init_val
    for i in range(_count(lower, "fori_loop"), _count(upper, "fori_loop")):
        val = body_fun(i, val)
    return val


def while_loop(cond, body, loop_vars, maximum_iterations=None):
    """loop_vars = body(*loop_vars) while cond(*loop_vars) (at most maximum_iterations times); a
    tuple or list of loop variables is unpacked into cond and body, as Keras does."""
    several = isinstance(loop_vars, (tuple, list))
    state = tuple(loop_vars) if several else (loop_vars,)
    limit = None if maximum_iterations is None else _count(maximum_iterations, "while_loop")
    steps = 0
    while (limit is None or steps < limit) and bool(cond(*state)):
        out = body(*state)
        state = tuple(out) if several else (out,)
        steps += 1
    return type(loop_vars)(state) if several else state[0]


def _leading(xs, what):
    n = xs.shape[0]
    if n is None:
        raise ValueError(f"ops.{what}: the leading axis is the batch or a run-time length here; a traced {what} "
                         "is unrolled and needs a static length (it cannot run over the batch axis in a model)")
    return n


def _flat(xs):
    return list(xs) if isinstance(xs, (list, tuple)) else [xs]


def _take(xs, i):
    if isinstance(xs, (list, tuple)):
        return type(xs)(_take(x, i) for x in xs)
    return xs[i]


def _stack_all(items):
    if isinstance(items[0], (list, tuple)):
        return type(items[0])(_stack_all([it[k] for it in items]) for k in range(len(items[0])))
    return stack(items, axis=0)


def scan(f, init, xs=None, length=None, reverse=False, unroll=1):
    """(carry, ys) with carry, y = f(carry, x) for each x along xs's leading axis (or `length`
    times with x None); ys stacked along a new leading axis."""
    if xs is None:
        if length is None:
            raise ValueError("ops.scan needs xs or length")
        n = _count(length, "scan")
    else:
        sizes = {_leading(x, "scan") for x in _flat(xs)}
        if len(sizes) != 1:
            raise ValueError(f"ops.scan: the arrays in xs need one leading length, got {sorted(sizes)}")
        n = sizes.pop()
        if length is not None and _count(length, "scan") != n:
            raise ValueError(f"ops.scan: length={length} but xs has {n} entries")
    carry, ys = init, []
    for i in (range(n - 1, -1, -1) if reverse else range(n)):
        carry, y = f(carry, None if xs is None else _take(xs, i))
        ys.append(y)
    if reverse:
        ys.reverse()
    if not ys or ys[0] is None:
        return carry, None
    return carry, _stack_all(ys)


def map(f, xs):  # noqa: A001  (Keras's name)
    """f over xs's leading axis, the results stacked."""
    n = {_leading(x, "map") for x in _flat(xs)}
    if len(n) != 1:
        raise ValueError(f"ops.map: the arrays in xs need one leading length, got {sorted(n)}")
    return _stack_all([f(_take(xs, i)) for i in range(n.pop())])


def vectorized_map(function, elements):
    """function over elements' leading axis, stacked (the same results as ops.map)."""
    return map(function, elements)


def switch(index, branches, *operands):
    """branches[index](*operands), the index clipped to the branches, as Keras."""
    if not branches:
        raise ValueError("ops.switch needs at least one branch")
    i = min(max(_count(index, "switch"), 0), len(branches) - 1)
    return branches[i](*operands)


__all__ = ["fori_loop", "map", "scan", "switch", "vectorized_map", "while_loop"]
