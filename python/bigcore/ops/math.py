"""keras.ops's math functions on the primitives: logsumexp, erf, rsqrt."""

from bigcore.ops.node import apply


def logsumexp(x, axis=None, keepdims=False):
    axis = axis if axis is None or isinstance(axis, int) else [int(a) for a in axis]
    return apply("logsumexp", [x], {"axis": axis, "keepdims": bool(keepdims)})


def erf(x):
    return apply("erf", [x])


def rsqrt(x):
    return apply("rsqrt", [x])
