"""Lengths known only when the model runs (`Input(shape=(None,))`): symbolic dimensions.

A KerasTensor keeps, per axis, an int or a `Dim`. Its public `shape` shows a Dim as None, as
Keras does; the Dim remembers where the length comes from, so the lowering can give the native
program one symbol per distinct length (runtime/shapes.h): an input's axis, or a length derived
from others the way the native program derives them:

    input       a model input's axis (one Dim per Input axis given as None)
    affine      (a * s + b) // d
    sum, prod   s + t, s * t
    broadcast   s and t, which must be equal or 1 when the model runs
    slice       len(range(*slice(start, stop, step).indices(s)))
    unknown     a length nothing defines (a shape a layer declared with None); the lowering
                refuses it

Dims compare by structure: two `affine` Dims of the same symbol and constants are one length.
The batch axis is `BATCH`, a Dim of its own that the shape rules of bigcore.ops carry like any
other length; it must stay axis 0 of a tensor (the native program's layout).
"""

import itertools
import numbers

_ids = itertools.count()


class Dim:
    """A symbolic length. kind and args as in the module docstring; compare by value."""

    __slots__ = ("kind", "args", "name", "_hash")

    def __init__(self, kind, args, name=""):
        self.kind, self.args, self.name = kind, tuple(args), name
        self._hash = hash((kind, self.args))

    def __eq__(self, other):
        return isinstance(other, Dim) and other.kind == self.kind and other.args == self.args

    def __hash__(self):
        return self._hash

    def __repr__(self):
        if self is BATCH:
            return "batch"
        if self.kind in ("input", "unknown"):
            return self.name or f"{self.kind}{self.args[0]}"
        return f"{self.kind}{self.args}"

    def depends_on(self):
        """The Dims this one is computed from."""
        return [a for a in self.args if isinstance(a, Dim)]

    # Inside a traced call(), ops.shape gives a run-time length as its Dim (Keras gives the int the
    # backend sees), so the arithmetic Keras code does on lengths yields the derived lengths.
    def __add__(self, other):
        length = _length(other)
        return _as_value(self, other, lambda a, b: a + b) if length is None else add(self, length)

    __radd__ = __add__

    def __sub__(self, other):
        if isinstance(other, Dim):
            raise TypeError(f"a run-time length minus another ({self!r} - {other!r}) is not supported")
        length = _length(other)
        return _as_value(self, other, lambda a, b: a - b) if length is None else affine(self, 1, -length)

    def __rsub__(self, other):
        length = _length(other)
        if isinstance(length, Dim):
            return NotImplemented
        return _as_value(self, other, lambda a, b: b - a) if length is None else affine(self, -1, length)

    def __mul__(self, other):
        length = _length(other)
        if length is None:
            return _as_value(self, other, lambda a, b: a * b)
        return mul(self, length)

    __rmul__ = __mul__

    # A length with a float (Keras's `ops.shape(x)[-1] ** 0.5`, `n * 0.5`, `x / n`) is a number there:
    # here the length's value as a tensor of the program (value_hook), so the arithmetic records ops.
    def __truediv__(self, other):
        return _as_value(self, other, lambda a, b: a / b)

    def __rtruediv__(self, other):
        return _as_value(self, other, lambda a, b: b / a)

    def __pow__(self, other):
        return _as_value(self, other, lambda a, b: a ** b)

    def __floordiv__(self, other):
        other = _length(other)
        if isinstance(other, int) and other >= 1:
            return affine(self, 1, 0, other)
        return NotImplemented

    def __index__(self):
        raise TypeError(f"the length {self!r} is known only when the model runs (ops.shape inside a traced "
                        "call() gives it symbolically): it sizes bigcore.ops (arange, zeros, reshape ...) but has "
                        "no Python value")

    __int__ = __index__


# bigcore.ops (which sits above this module) sets it: a Dim -> its value as a 0-d tensor of the graph.
value_hook = None


def _as_value(d, other, op):
    """op(value of d, other) for a float or tensor operand, else NotImplemented."""
    if value_hook is None or isinstance(other, (bool, str)) or other is None:
        return NotImplemented
    if isinstance(other, numbers.Number) or hasattr(other, "shape"):
        return op(value_hook(d), other)
    return NotImplemented


def _length(v):
    """v as a length operand (a Dim or a Python int; numpy ints too), else None."""
    if isinstance(v, Dim):
        return v
    if isinstance(v, numbers.Integral) and not isinstance(v, bool):
        return int(v)
    return None


BATCH = Dim("batch", ())


class Lengths(tuple):
    """A 1-D int tensor of lengths some of which are run-time ones: what Keras code builds a shape
    tensor with (ops.concatenate([ops.expand_dims(batch, -1), [1, 1]])) inside a traced call().
    It holds ints and Dims, and sizes ops (tile, reshape, broadcast_to, zeros) as a tuple would."""

    __slots__ = ()

    def __repr__(self):
        return f"Lengths{tuple(self)!r}"


def input_dim(name=""):
    """A new length of a model input's axis."""
    return Dim("input", (next(_ids),), name)


def unknown():
    """A length nothing defines (the lowering refuses it)."""
    return Dim("unknown", (next(_ids),))


def named(d, name):
    """d described for the message when it resolves below 1 at run time (a Dim compares by
    structure, so it stays the same length); an int unchanged."""
    return Dim(d.kind, d.args, name) if isinstance(d, Dim) else d


def is_dim(d):
    return isinstance(d, Dim)


def is_known(d):
    """Whether the lowering can derive d: an int, or a Dim built only from inputs and the batch."""
    if not isinstance(d, Dim):
        return True
    if d.kind == "unknown":
        return False
    return all(is_known(a) for a in d.depends_on())


def public(d):
    """The value Keras shows for a length: the int, or None."""
    return None if isinstance(d, Dim) else d


def affine(d, a, b=0, div=1):
    """(a * d + b) // div, kept exact where it can be."""
    if not isinstance(d, Dim):
        return (a * d + b) // div
    if a == 1 and b == 0 and div == 1:
        return d
    if d.kind == "affine" and d.args[3] == 1:  # a * (a1 s + b1) + b = (a a1) s + (a b1 + b)
        s, a1, b1, _ = d.args
        return affine(s, a * a1, a * b1 + b, div)
    return Dim("affine", (d, a, b, div))


def add(x, y):
    if not isinstance(x, Dim) and not isinstance(y, Dim):
        return x + y
    if not isinstance(x, Dim):
        x, y = y, x
    if not isinstance(y, Dim):
        return affine(x, 1, y)
    if x == y:
        return affine(x, 2)
    return Dim("sum", (x, y))


def mul(x, y):
    if not isinstance(x, Dim) and not isinstance(y, Dim):
        return x * y
    if not isinstance(x, Dim):
        x, y = y, x
    if not isinstance(y, Dim):
        return affine(x, y)
    return Dim("prod", (x, y))


def product(dims):
    out = 1
    for d in dims:
        out = mul(out, d)
    return out


def exact_div(total, k):
    """total / k when it is certainly a whole length (k an int), else None."""
    if not isinstance(total, Dim):
        return total // k if total % k == 0 else None
    if k == 1:
        return total
    if total.kind == "affine":
        s, a, b, d = total.args
        if d == 1 and a % k == 0 and b % k == 0:
            return affine(s, a // k, b // k)
    if total.kind == "prod":
        for i, f in enumerate(total.args):
            q = exact_div(f, k)
            if q is not None:
                return mul(q, total.args[1 - i])
    return None


def broadcast(x, y, what="broadcast"):
    """NumPy's rule for one axis: equal, or one of them 1; two run-time lengths that may differ
    become a `broadcast` Dim, checked when the model runs."""
    if x == 1:
        return y
    if y == 1 or x == y:
        return x
    if isinstance(x, Dim) and isinstance(y, Dim) and BATCH not in (x, y):
        return Dim("broadcast", (x, y))
    raise ValueError(f"cannot {what} lengths {_show(x)} and {_show(y)}" + (
        " (a length known only when the model runs against a fixed one; give the input a fixed length)"
        if isinstance(x, Dim) or isinstance(y, Dim) else ""))


def slice_len(d, start, stop, step):
    if not isinstance(d, Dim):
        return len(range(*slice(start, stop, step).indices(d)))
    if (start in (None, 0)) and stop is None and (step in (None, 1)):
        return d
    return Dim("slice", (d, start, stop, 1 if step is None else step))


def substitute(d, mapping):
    """d with the Dims in `mapping` replaced (a nested model's inputs by the caller's lengths)."""
    if not isinstance(d, Dim):
        return d
    if d in mapping:
        return mapping[d]
    if not d.depends_on():
        return d
    args = [substitute(a, mapping) for a in d.args]
    rule = {"affine": affine, "sum": add, "prod": mul, "broadcast": broadcast, "slice": slice_len}.get(d.kind)
    if rule is None:
        return Dim(d.kind, args, d.name)
    out = rule(*args)
    return named(out, d.name) if d.name else out  # the same length, still described


def _show(d):
    return "None" if isinstance(d, Dim) else str(d)
