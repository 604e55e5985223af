"""keras.ops.norm on the norm primitive."""

from bigcore.ops.node import apply


def norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002  (Keras's name)
    """Vector norms (ord None/2, 1, inf, -inf over one axis; the 2-norm of the flattened x when axis is
    None) and the Frobenius norm over two axes (ord None or 'fro')."""
    if isinstance(ord, str) and ord not in ("fro",):
        raise ValueError(f"norm: ord={ord!r} is not supported (None, 1, 2, inf, -inf or 'fro')")
    if ord is not None and not isinstance(ord, str):
        ord = float(ord)
        ord = int(ord) if ord in (1.0, 2.0) else ord
    axis = axis if axis is None or isinstance(axis, int) else [int(a) for a in axis]
    return apply("norm", [x], {"ord": ord, "axis": axis, "keepdims": bool(keepdims)})
