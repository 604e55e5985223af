"""Merge layers: Concatenate (last axis), Add, Subtract, Average, Multiply, Maximum, Minimum, and
Keras's functional forms (add, subtract, ...: the layer, made and called at once).

Masks as Keras 3 merges them (keras/src/layers/merging): the output mask is the *or* of the
input masks; the elementwise merges give none when an input has none; Concatenate counts an
unmasked input as unmasked everywhere. Multiply takes 1 for an input at its masked steps and, when
every input is masked, gives 0 where none is unmasked. Maximum and Minimum fold left; at an input's
masked steps it takes the running result's value, and at the running result's masked steps the
input's (ops/merge.h, ExtremumOp). Subtract's values ignore the masks, as Keras's do.
"""

from bigcore.layers.base import KerasTensor, Layer, shape_str
from bigcore.layers.registry import register


class _Merge(Layer):
    mode = None
    supports_variable_length = True  # its ops check the lengths per call

    def _check_input(self, shapes):
        if not isinstance(shapes, list) or len(shapes) < 2:
            raise ValueError(f"A merge layer should be called on a list of at least 2 inputs. Got: {shapes}")

    def compute_output_shape(self, shapes):
        if any(s != shapes[0] for s in shapes):
            raise ValueError(f'Layer "{self.name}" expects inputs of one shape, got '
                             f"{', '.join(shape_str(s) for s in shapes)}")
        return shapes[0]

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
        self._lower_op(prog, inputs, out)
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

    def compute_output_shape(self, shapes):
        rank = len(shapes[0])
        if self.axis not in (-1, rank - 1):
            raise ValueError(f'Layer "{self.name}": only axis=-1 (the features axis) is supported, got axis={self.axis}')
        if any(len(s) != rank or s[:-1] != shapes[0][:-1] for s in shapes):
            raise ValueError(f'A `Concatenate` layer requires inputs with matching shapes except for the concatenation '
                             f"axis. Received: input_shape={[shape_str(s) for s in shapes]}")
        return shapes[0][:-1] + (sum(s[-1] for s in shapes),)

    def _lower_op(self, prog, inputs, out):
        prog.native.add_concat(inputs, out, [kt.shape[-1] for kt in prog.node.inputs])

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


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
