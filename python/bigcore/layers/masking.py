"""Masking (Keras): positions whose values all equal mask_value are masked (and zeroed); the mask
(batch, positions) reaches the layers after it (cpp/ops/gather.h: MaskingOp)."""

import numpy as np

from bigcore.layers import base
from bigcore.layers.base import KerasTensor, Layer, shape_str
from bigcore.layers.registry import register


class TakesMask:
    """Mixin for layers whose Keras call takes `mask=` (BatchNormalization, GlobalAveragePooling1D,
    Softmax): an explicit mask overrides the propagated one; Keras's files write `"mask": null` in
    these layers' call kwargs. The lowering reads the mask with prog.input_mask_id()."""

    call_keywords = ("mask", "training")

    def _check_call_kwargs(self, xs, kwargs):
        mask = kwargs.get("mask")
        if mask is None:
            return
        if not isinstance(mask, KerasTensor):
            raise TypeError(f"Layer {self.name!r}: `mask` must be a symbolic tensor when the layer is called on "
                            f"symbolic inputs. Received: mask={mask!r}")
        if tuple(mask.shape[1:]) != tuple(xs[0].shape[1:len(mask.shape)]):
            raise ValueError(f"Layer {self.name!r}: `mask` of shape {shape_str(mask.shape)} does not match the "
                             f"leading axes of the input {shape_str(xs[0].shape)}")


@register
class Masking(Layer):
    supports_masking = True
    supports_variable_length = True  # the op reads the rows per call

    def __init__(self, mask_value=0.0, **kw):
        super().__init__(**kw)
        if isinstance(mask_value, bool) or not isinstance(mask_value, (int, float)):
            raise ValueError(f"Masking: mask_value must be a number. Received: mask_value={mask_value!r}")
        self.mask_value = float(mask_value)

    def compute_mask(self, inputs, masks=None):
        if isinstance(inputs, KerasTensor):  # a user's call() asks for the mask: an op of the trace
            ops = base._ops()
            return ops.any(ops.not_equal(inputs, self.mask_value), axis=-1)
        if not isinstance(inputs, (list, tuple)) or not isinstance(inputs[0], KerasTensor):
            return np.any(np.asarray(inputs) != self.mask_value, axis=-1)  # on values (Keras's eager call)
        return KerasTensor(inputs[0].shape[:-1], name=f"{self.name}/mask")

    compute_mask.on_values = True  # answers on arrays too (an eager call's _keras_mask: models/functional.py)

    def lower(self, prog, inputs, outputs):
        out = prog.tensor(outputs[0])
        mask_kt = outputs[0]._mask
        mask = prog.tensor(mask_kt)
        prog.bind(mask_kt, mask)
        prog.native.add_masking(inputs[0], out, mask, outputs[0].shape[-1], self.mask_value)
        return [out]

    def get_config(self):
        return {**super().get_config(), "mask_value": self.mask_value}
