"""Merge layers: Concatenate (any axis but the batch's), Add, Subtract, Average, Multiply, Maximum, Minimum, Dot,
and Keras's functional forms (add, subtract, ...: the layer, made and called at once).

Masks as Keras 3 merges them (keras/src/layers/merging): the output mask is the *or* of the
input masks; the elementwise merges give none when an input has none; Concatenate counts an
unmasked input as unmasked everywhere. Multiply takes 1 for an input at its masked steps and, when
every input is masked, gives 0 where none is unmasked. Maximum and Minimum fold left; at an input's
masked steps it takes the running result's value, and at the running result's masked steps the
input's (ops/merge.h, ExtremumOp). Subtract's values ignore the masks, as Keras's do.
"""

import numpy as np

from bigcore.layers import base
from bigcore.layers import dims as dims_module
from bigcore.layers.base import KerasTensor, Layer, shape_str
from bigcore.layers.registry import register


class _Merge(Layer):
    mode = None
    supports_variable_length = True  # its ops check the lengths per call

    def _check_input(self, shapes):
        if not isinstance(shapes, list) or len(shapes) < 2:
            raise ValueError(f"A merge layer should be called on a list of at least 2 inputs. Got: {shapes}")

    def compute_output_shape(self, shapes):
        """Keras's rule: the non-batch axes broadcast, aligned at the end (a lower-rank input is
        expanded after its batch axis), each pair equal or one of them 1."""
        def pick(a, b):
            if a == b or b == 1:
                return a
            if a == 1:
                return b
            raise ValueError("unequal")
        out = tuple(shapes[0][1:])
        for s in shapes[1:]:
            out = self._broadcast(out, tuple(s[1:]), shapes, pick)
        return (shapes[0][0],) + out

    def _broadcast(self, a, b, shapes, pick):
        if len(a) < len(b):
            a, b = b, a
        try:
            tail = tuple(pick(x, y) for x, y in zip(a[len(a) - len(b):], b))
        except ValueError:
            raise ValueError(f'Layer "{self.name}": inputs of shapes {", ".join(shape_str(s) for s in shapes)} '
                             "do not broadcast (each axis, counted from the last, must be equal or 1; a run-time "
                             "length only against itself or 1)") from None
        return tuple(a[:len(a) - len(b)]) + tail

    def _output_dims(self, shape, xs):
        out = tuple(xs[0]._dims)
        for x in xs[1:]:
            out = self._broadcast(out, tuple(x._dims), [t.shape for t in xs], dims_module.broadcast)
        return out

    def _broadcast_inputs(self, prog, inputs, out_kt):
        """Inputs of another shape than the output's, broadcast to it (a view with the missing axes
        after the batch's, then the broadcast_to primitive, whose gradient sums them back)."""
        kts = prog.node.inputs
        rank = len(out_kt._dims)
        result = []
        for t, kt in zip(inputs, kts):
            if tuple(kt._dims) == tuple(out_kt._dims):
                result.append(t)
                continue
            if kt._mask is not None:
                raise ValueError(f'Layer "{self.name}": a masked input of shape {shape_str(kt.shape)} would be '
                                 f"broadcast to {shape_str(out_kt.shape)}; give the masked inputs the output's shape")
            if len(kt._dims) < rank:
                t = prog.view(t, KerasTensor(None, kt.dtype, dims=(1,) * (rank - len(kt._dims)) + tuple(kt._dims)))
            full = prog.tensor(KerasTensor(None, kt.dtype, dims=out_kt._dims))
            prog.native.add_prim("broadcast_to", [t], [full], {})
            result.append(full)
        return result

    _unmasked_counts_everywhere = False  # Concatenate's rule

    def compute_mask(self, inputs, masks):
        present = [m for m in masks if m is not None]
        if not present or (len(present) < len(masks) and not self._unmasked_counts_everywhere):
            return None
        if len(present) == len(masks) and all(m is present[0] for m in present):
            return present[0]  # the or of one mask with itself
        return KerasTensor(present[0].shape, name=f"{self.name}/mask")

    def lower(self, prog, inputs, outputs):
        out = prog.tensor(outputs[0])
        self._lower_op(prog, self._broadcast_inputs(prog, inputs, outputs[0]), out)
        mask_kt = outputs[0]._mask
        kts = prog.node.inputs
        if mask_kt is not None and all(mask_kt is not kt._mask for kt in kts):  # a new mask: the or
            m = prog.tensor(mask_kt)
            prog.native.add_mask_or([prog.mask_id(kt) for kt in kts if kt._mask is not None], m,
                                    any(kt._mask is None for kt in kts))
            prog.bind(mask_kt, m)
        return [out]

    def _lower_op(self, prog, inputs, out):
        prog.native.add_merge(inputs, out, self.mode)


@register
class Add(_Merge):
    mode = 0


@register
class Subtract(_Merge):
    """inputs[0] - inputs[1]: exactly two inputs."""

    mode = 3

    def _check_input(self, shapes):
        super()._check_input(shapes)
        if len(shapes) != 2:
            raise ValueError(f"A `Subtract` layer should be called on exactly 2 inputs. Received: "
                             f"input_shape={[shape_str(s) for s in shapes]}")


@register
class Average(_Merge):
    mode = 1


class _Extremum(_Merge):
    is_max = True

    def _lower_op(self, prog, inputs, out):
        masks = [prog.mask_id(kt) if kt._mask is not None else -1 for kt in prog.node.inputs]
        prog.native.add_extremum(inputs, masks, out, self.is_max)


@register
class Maximum(_Extremum):
    is_max = True


@register
class Minimum(_Extremum):
    is_max = False


@register
class Multiply(_Merge):
    mode = 2

    def _lower_op(self, prog, inputs, out):
        kts = prog.node.inputs
        if all(kt._mask is None for kt in kts):
            prog.native.add_merge(inputs, out, self.mode)
        else:
            prog.native.add_masked_mul(inputs, [prog.mask_id(kt) for kt in kts], out)


@register
class Concatenate(_Merge):
    _unmasked_counts_everywhere = True

    def __init__(self, axis=-1, **kw):
        super().__init__(**kw)
        self.axis = axis

    def _axis(self, rank):
        """The axis counted with the batch axis, as Keras counts it."""
        if isinstance(self.axis, bool) or not isinstance(self.axis, (int, np.integer)) or not -rank <= self.axis < rank:
            raise ValueError(f'Layer "{self.name}": axis must be an int in [{-rank}, {rank}) for inputs of rank {rank}, '
                             f"got axis={self.axis!r}")
        axis = int(self.axis) % rank
        if axis == 0:
            raise ValueError(f'Layer "{self.name}": cannot concatenate along the batch axis (axis={self.axis})')
        return axis

    def compute_output_shape(self, shapes):
        rank = len(shapes[0])
        axis = self._axis(rank)
        if any(len(s) != rank or s[:axis] + s[axis + 1:] != shapes[0][:axis] + shapes[0][axis + 1:] for s in shapes):
            raise ValueError(f'A `Concatenate` layer requires inputs with matching shapes except for the concatenation '
                             f"axis. Received: input_shape={[shape_str(s) for s in shapes]}")
        total = None if any(s[axis] is None for s in shapes) else sum(s[axis] for s in shapes)
        return shapes[0][:axis] + (total,) + shapes[0][axis + 1:]

    def _output_dims(self, shape, xs):
        """The concatenated axis's run-time length is the sum of the inputs' (layers/dims.py)."""
        axis = self._axis(len(shape)) - 1
        out = list(xs[0]._dims)
        total = 0
        for x in xs:
            total = dims_module.add(total, x._dims[axis])
        out[axis] = total
        return tuple(out)

    def _along_mask_axis(self, inputs, masks):
        """Sequences concatenated along their (masked) time axis: every input masked over all its
        axes but the features, with static lengths. Keras's mask is then the masks concatenated."""
        rank = len(inputs[0].shape)
        return (rank >= 3 and self._axis(rank) == rank - 2 and all(m is not None for m in masks)
                and all(tuple(m.shape) == tuple(x.shape[:-1]) for m, x in zip(masks, inputs))
                and all(d is not None for x in inputs for d in x.shape[1:]))

    def compute_mask(self, inputs, masks):
        if self._axis(len(inputs[0].shape)) != len(inputs[0].shape) - 1 and any(m is not None for m in masks):
            if self._along_mask_axis(inputs, masks):
                shape = self.compute_output_shape([tuple(x.shape) for x in inputs])[:-1]
                return KerasTensor(shape, name=f"{self.name}/mask")
            raise ValueError(f'Layer "{self.name}": concatenating masked inputs along axis {self.axis} is supported '
                             "along the last axis, or along the time axis of sequences that are all masked and of "
                             "static lengths; drop the masks first otherwise")
        return super().compute_mask(inputs, masks)

    def lower(self, prog, inputs, outputs):
        kts = prog.node.inputs
        if outputs[0]._mask is None or self._axis(len(kts[0].shape)) == len(kts[0].shape) - 1:
            return super().lower(prog, inputs, outputs)
        out = prog.tensor(outputs[0])  # along the time axis: the values, then the masks likewise
        self._lower_op(prog, inputs, out)
        mask = prog.tensor(outputs[0]._mask)
        prog.native.add_concat([prog.mask_id(kt) for kt in kts], mask, [kt.shape[-2] for kt in kts])
        prog.bind(outputs[0]._mask, mask)
        return [out]

    def _broadcast_inputs(self, prog, inputs, out_kt):
        return inputs  # concatenation does not broadcast

    def _lower_op(self, prog, inputs, out):
        kts = prog.node.inputs
        axis = self._axis(len(kts[0].shape))
        if axis == len(kts[0].shape) - 1:
            prog.native.add_concat(inputs, out, [kt.shape[-1] for kt in kts])
        else:  # the primitive bigcore.ops.concatenate records
            prog.native.add_prim("concatenate", inputs, [out], {"axis": axis})

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


_LETTERS = "bcdefghijklmnopqrstuvwxy"


@register
class Dot(Layer):
    """Keras's Dot: the batch_dot of two inputs over one axis each, optionally of their L2-normalized
    values (Keras 3's ops.normalize: x * min(rsqrt(sum(x^2)), 1 / 1e-7)). A rank-1 result becomes
    (batch, 1). Its call() records bigcore.ops (through the tensor-ops hook), so it lowers as a custom
    layer does: einsum's transposes and one batched matmul."""

    def __init__(self, axes, normalize=False, **kw):
        super().__init__(**kw)
        if isinstance(axes, bool) or not isinstance(axes, (int, np.integer, list, tuple)):
            raise TypeError(f"Invalid type for argument `axes`: it should be a list or an int. Received: axes={axes!r}")
        if isinstance(axes, (list, tuple)) and (len(axes) != 2 or not all(
                isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in axes)):
            raise ValueError(f"Invalid format for argument `axes`: it should contain two integers. Received: axes={axes}")
        self.axes = [int(a) for a in axes] if isinstance(axes, (list, tuple)) else int(axes)
        self.normalize = bool(normalize)

    def _resolved_axes(self, shapes):
        if not isinstance(shapes, (list, tuple)) or len(shapes) != 2 or not all(isinstance(s, tuple) for s in shapes):
            raise ValueError(f"A `Dot` layer should be called on a list of 2 inputs. Received: input_shape={shapes}")
        pair = self.axes if isinstance(self.axes, list) else [self.axes, self.axes]
        axes = []
        for a, s in zip(pair, shapes):
            if len(s) < 2 or not -len(s) <= a < len(s) or a % len(s) == 0:
                raise ValueError(f'Layer "{self.name}": axes={self.axes} do not fit inputs of shapes '
                                 f"{[shape_str(t) for t in shapes]} (the batch axis cannot be an axis of the product)")
            axes.append(a % len(s))
        d1, d2 = shapes[0][axes[0]], shapes[1][axes[1]]
        if (d1 is None) != (d2 is None) or d1 != d2:  # two run-time lengths: the product checks them per call
            raise ValueError(f"Incompatible input shapes: axis values {d1} (at axis {axes[0]}) != {d2} (at axis "
                             f"{axes[1]}). Full input shapes: {shape_str(shapes[0])}, {shape_str(shapes[1])}")
        return axes

    def compute_output_shape(self, shapes):
        a1, a2 = self._resolved_axes(shapes)
        out = (shapes[0][0],) + tuple(d for i, d in enumerate(shapes[0]) if i not in (0, a1)) + \
            tuple(d for i, d in enumerate(shapes[1]) if i not in (0, a2))
        return out if len(out) > 1 else out + (1,)

    def call(self, inputs):
        ops = base._ops()
        a1, a2 = self._resolved_axes([tuple(t.shape) for t in inputs] if isinstance(inputs, (list, tuple)) else inputs)
        x1, x2 = inputs
        if self.normalize:  # Keras 3's normalize, as bigcore.ops computes it
            x1, x2 = ops.normalize(x1, axis=a1), ops.normalize(x2, axis=a2)
        r1, r2 = len(x1.shape), len(x2.shape)
        if r1 - 1 + r2 - 2 > len(_LETTERS):
            raise ValueError(f'Layer "{self.name}": inputs of rank {r1} and {r2} have too many axes')
        # einsum subscripts: "a" the batch, "z" the summed axis, a letter of its own for each other axis
        free = iter(_LETTERS)
        s1 = "a" + "".join("z" if i == a1 else next(free) for i in range(1, r1))
        s2 = "a" + "".join("z" if i == a2 else next(free) for i in range(1, r2))
        out = "a" + (s1[1:] + s2[1:]).replace("z", "")
        y = ops.einsum(f"{s1},{s2}->{out}", x1, x2)
        return ops.expand_dims(y, 1) if len(out) == 1 else y

    def compute_mask(self, inputs, mask=None):
        return None  # Keras: the product mixes steps of both inputs; no mask follows it

    def get_config(self):
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}


def _functional(cls):
    def make_and_call(inputs, **kwargs):
        return cls(**kwargs)(inputs)

    make_and_call.__name__ = cls.__name__.lower()
    make_and_call.__doc__ = f"Keras's functional interface to `{cls.__name__}`: `{cls.__name__}(**kwargs)(inputs)`."
    return make_and_call


add, subtract, average, multiply = _functional(Add), _functional(Subtract), _functional(Average), _functional(Multiply)
maximum, minimum = _functional(Maximum), _functional(Minimum)


def concatenate(inputs, axis=-1, **kwargs):
    """Keras's functional interface to `Concatenate`: `Concatenate(axis=axis, **kwargs)(inputs)`."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def dot(inputs, axes=-1, normalize=False, **kwargs):
    """Keras's functional interface to `Dot`: `Dot(axes=axes, normalize=normalize, **kwargs)(inputs)`."""
    return Dot(axes=axes, normalize=normalize, **kwargs)(inputs)
