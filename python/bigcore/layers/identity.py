"""Identity (Keras): the input unchanged, mask included; no op (the same buffer). ActivityRegularization:
the same, with Keras's activity penalty on it (applied by the lowering, as for any layer's
activity_regularizer: (l1 * sum|y| + l2 * sum y^2) / batch)."""

from bigcore import regularizers
from bigcore.layers.base import Layer
from bigcore.layers.registry import register


@register
class Identity(Layer):
    supports_masking = True
    supports_variable_length = True

    def lower(self, prog, inputs, outputs):
        return inputs


@register
class ActivityRegularization(Identity):
    def __init__(self, l1=0.0, l2=0.0, **kw):
        super().__init__(**kw)
        for name, v in (("l1", l1), ("l2", l2)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0:
                raise ValueError(f"ActivityRegularization: {name} must be a number >= 0. Received: {name}={v!r}")
        self.l1, self.l2 = float(l1), float(l2)
        self.activity_regularizer = regularizers.L1L2(l1=self.l1, l2=self.l2)

    def get_config(self):
        return {**super().get_config(), "l1": self.l1, "l2": self.l2}
